"""The job process: ``python -m slipway.training.runner <job folder>``.

Sets the memory limit, writes the SageMaker config files, installs ``requirements.txt`` into a
cached environment, runs the user's script (or a built-in) with the SM_* environment, then writes
``slipway/result.json``: Completed, or Failed with the script's own failure text or its traceback.
Its stdout and stderr are the job's log. Standard library only, so the user's code starts fast.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any, BinaryIO

from slipway.training.contract import (
    JobPaths,
    build_env,
    hp_args,
    map_opt_ml,
    private_env,
    processing_env,
    write_config,
    write_processing_config,
)

__all__ = ["failure_reason", "main"]

MB = 1024 * 1024
# Modules an extra provides (the extra's name), and modules SageMaker's containers ship (their pip package).
_EXTRAS = {"torch": "pytorch", "keras": "keras", "xgboost": "xgboost", "lightgbm": "lightgbm",
           "onnxruntime": "onnx", "skl2onnx": "onnx", "onnxmltools": "xgboost"}
_CONTAINER_PACKAGES = {"boto3": "boto3", "botocore": "botocore", "sagemaker": "sagemaker",
                       "sagemaker_training": "sagemaker-training", "sagemaker_inference": "sagemaker-inference",
                       "sagemaker_containers": "sagemaker-containers"}
_MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([\w.]+)'")
MODEL_FILES = ("model.joblib", "model.pkl", "xgboost-model", "model.bst", "model.txt", "model.onnx", "model.pt",
               "model.pth", "model.keras", "model.h5")


def _say(message: str) -> None:
    print(f"[slipway] {message}", flush=True)


def _tail(path: Path, limit: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def last_traceback(log: str, max_lines: int = 15) -> str:
    """The last Python traceback in ``log``, cut to its final lines (where the error is)."""
    start = log.rfind("Traceback (most recent call last):")
    if start < 0:
        return ""
    lines = [ln for ln in log[start:].splitlines() if not ln.startswith("[slipway]")]
    if len(lines) > max_lines:
        lines = [lines[0], "  …"] + lines[-(max_lines - 2):]
    return "\n".join(lines).strip()


def last_lines(log: Path, count: int = 5) -> str:
    """The last ``count`` lines a job printed to ``log`` (the runner's own ``[slipway]`` lines left out)."""
    tb = last_traceback(_tail(log))
    if tb:
        return tb
    lines = [ln for ln in _tail(log, 8192).splitlines() if ln.strip() and not ln.startswith("[slipway]")]
    return "\n".join(lines[-count:])


def describe_exit(code: int | None) -> str:
    """``killed by signal SIGKILL``, ``exit code 1``, or that the code is not known."""
    if code is None:
        return "its exit code is not known"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def failure_reason(paths: JobPaths, code: int, memory_limit_mb: int | None) -> str:
    """Why a job failed, in the script's own words where it gave any."""
    own = ""
    if paths.failure.is_file():
        own = paths.failure.read_text(errors="replace").strip()[:4000]
    tb = last_traceback(_tail(paths.logs))
    last = tb.splitlines()[-1] if tb else ""
    reason = own or tb
    missing = _MISSING_MODULE.search(last)
    if missing and not own:
        reason = f"{_missing_module_hint(missing.group(1))}\n{tb}"
    if not reason:
        if code < 0:
            reason = f"The script was {describe_exit(code)}."
        else:
            reason = f"The script exited with code {code} without a traceback; see the job's logs."
        tail = last_lines(paths.logs)
        if tail:
            reason += " Its last lines:\n" + tail
    if memory_limit_mb and ("MemoryError" in last or code in (-signal.SIGKILL, -signal.SIGSEGV)):
        reason = (f"The job exceeded its memory limit of {memory_limit_mb} MB (raise it with --memory-limit).\n"
                  + reason)
    return reason


def _missing_module_hint(module: str) -> str:
    """What to do about ``ModuleNotFoundError: No module named 'module'`` in a job."""
    top = module.split(".")[0]
    if top in _EXTRAS:
        extra = _EXTRAS[top]
        return (f"The script imports {top}, but the '{extra}' extra is not installed where the job ran: install it "
                f"with `pip install 'slipway[{extra}]'` (or list {top} in the source folder's requirements.txt).")
    from slipway.training.shims import PROVIDED

    if top in PROVIDED:  # Slipway's stand-in is there, but not the part the script needs
        return (f"The script imports {module}, which Slipway's stand-in for {top} does not have (it provides "
                f"{PROVIDED[top]}): add `{_CONTAINER_PACKAGES.get(top, top.replace('_', '-'))}` to requirements.txt "
                "in the source folder (the installed package replaces the stand-in).")
    if top in _CONTAINER_PACKAGES:
        return (f"The script imports {top}, which SageMaker's framework containers ship but this machine does not "
                f"have: add `{_CONTAINER_PACKAGES[top]}` to requirements.txt in the source folder (it is installed "
                "for the job, and for the model's replicas).")
    return (f"The script imports {module}, which is not installed where the job ran: add its package to "
            "requirements.txt in the source folder (the pip package name may differ from the module's).")


class Redactor:
    """Copies a stream to ``out`` with every secret value replaced by ``***``, as it arrives.

    Holds back only what could still be the start of a value (at most its length less one byte);
    when no value spans lines, every complete line is written at once, so the log stays live.
    """

    MASK = b"***"

    def __init__(self, values: list[str], out: BinaryIO) -> None:
        self.values = sorted({v.encode() for v in values if v}, key=len, reverse=True)
        self.keep = max((len(v) for v in self.values), default=1) - 1
        self.multiline = any(b"\n" in v for v in self.values)
        self.out = out
        self.pending = b""
        self.copied = 0  # bytes taken from the pipe so far (how _run_redacted sees the pump moving)

    def redact(self, data: bytes) -> bytes:
        for v in self.values:
            data = data.replace(v, self.MASK)
        return data

    def feed(self, data: bytes) -> None:
        buf = self.redact(self.pending + data)
        cut = len(buf) - self.keep
        if not self.multiline:
            cut = max(cut, buf.rfind(b"\n") + 1)
        if cut > 0:
            self.out.write(buf[:cut])
            self.out.flush()
            buf = buf[cut:]
        self.pending = buf

    def close(self) -> None:
        self.out.write(self.redact(self.pending))
        self.out.flush()
        self.pending = b""

    def pump(self, fd: int) -> None:
        """Copy ``fd`` until end of file."""
        while chunk := os.read(fd, 65536):
            self.copied += len(chunk)
            self.feed(chunk)
        self.close()


def _secret_values(job: dict[str, Any]) -> list[str]:
    """The values of the job's secrets (environment variables named in job.json), to redact."""
    return [os.environ[n] for n in job.get("secrets") or [] if os.environ.get(n)]


def _run_redacted(cmd: list[str], cwd: Path, env: dict[str, str], values: list[str]) -> int:
    """Run the script with its output going through a :class:`Redactor` into ours (the job's log)."""
    import threading

    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    redactor = Redactor(values, sys.stdout.buffer)
    sys.stdout.flush()
    pump = threading.Thread(target=redactor.pump, args=(proc.stdout.fileno(),), daemon=True)
    pump.start()
    code = proc.wait()
    _drain(pump, redactor)
    return code


def _drain(pump: Any, redactor: Redactor, idle: float = 5.0, most: float = 120.0) -> None:
    """Wait for the pump to copy the script's last output, as long as it keeps moving.

    Whatever the script started may hold the pipe open after it ends, so the wait cannot be for end of
    file alone; but a fixed short wait could drop the last lines (a final metric the tuner reads from the
    log) when a loaded machine leaves the pump thread unscheduled. So: give up after ``idle`` seconds in
    which nothing was copied, or after ``most`` in all.
    """
    deadline = time.monotonic() + most
    seen = -1
    while pump.is_alive() and redactor.copied != seen and time.monotonic() < deadline:
        seen = redactor.copied
        pump.join(timeout=idle)


def ensure_environment(paths: JobPaths, cache: Path) -> str:
    """The Python to run the script with: a cached venv with ``requirements.txt`` installed, or ours."""
    from slipway.training.environments import requirements_python

    return requirements_python(paths.code / "requirements.txt", cache, say=_say)


def write_manifest(paths: JobPaths, job: dict[str, Any]) -> None:
    """slipway-model.json for a script's model, unless the script wrote its own.

    The entry point is recorded: its SageMaker handlers serve the model when it has no code/inference.py
    (the source folder travels with the model as code/). The problem type stays unknown (null) unless the
    job says; the registry infers it from the saved estimator where it can.
    """
    from slipway.artifacts.manifest import MANIFEST, Manifest, Signature

    target = paths.model / MANIFEST
    if target.exists():
        return
    names = sorted(p.name for p in paths.model.iterdir() if p.is_file())
    model_file = next((n for n in MODEL_FILES if n in names), None)
    if model_file is None:  # e.g. a Keras script that saved digits.keras
        model_file = next((n for n in names if n.endswith((".keras", ".pt", ".pth", ".joblib", ".pkl", ".json",
                                                           ".ubj", ".bst", ".txt"))), names[0] if names else None)
    framework = job.get("framework") or "custom"
    manifest = Manifest(
        framework=framework,
        model_file=model_file,
        problem_type=job.get("problem_type"),
        # No columns to go by: PyTorch and Keras predictors take the input shape and classes from the model.
        signature=Signature.from_dict(job.get("signature") or {"input_kind": "array"}),
        lineage=job.get("lineage", {}),
        entry_point=job.get("entry_point"),
    )
    target.write_bytes(Manifest.from_dict(manifest.to_dict()).to_bytes())


def _write_result(paths: JobPaths, result: dict[str, Any]) -> None:
    tmp = paths.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    tmp.replace(paths.result)


def _set_memory_limit(limit_mb: int | None) -> None:
    if limit_mb:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_mb * MB, limit_mb * MB))


def _run_builtin_here(env: dict[str, str], cwd: Path) -> int:
    """A built-in in this (pre-warmed) process: same environment and folder as a child would get."""
    import traceback

    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        from slipway.training.builtin import main as builtin_main

        return builtin_main()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def run(root: Path, in_process: bool = False) -> dict[str, Any]:
    paths = JobPaths(root)
    job = json.loads(paths.job_file.read_text())
    paths.make()
    stop = {"requested": False}

    def _on_term(signum: int, frame: object) -> None:
        # The whole process group got the signal: the script stops itself; we only remember why.
        stop["requested"] = True
        if in_process:  # the built-in runs in this very process: end it
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _on_term)
    # pip, venv and libraries of this process keep their temp files and caches in the job's folder too.
    os.environ.update(private_env(paths))
    import tempfile

    tempfile.tempdir = None  # a warm process may have looked the temp folder up before the job came
    if job.get("sandbox"):
        _say(job["sandbox"])
    processing = job.get("kind") == "processing"
    hps = {k: map_opt_ml(v, paths.root) for k, v in job.get("hyperparameters", {}).items()}
    base = {k: v for k, v in os.environ.items() if not k.startswith("SM_")}
    if processing:  # SageMaker Processing: /opt/ml/processing/… in the arguments point into the job's folder
        write_processing_config(paths, job)
        env = processing_env(paths, job, base)
        args = [str(map_opt_ml(a, paths.root)) for a in job.get("arguments") or []]
    else:
        write_config(paths, hps, job.get("channels", {}))
        env = build_env(paths, job, hps, base)
        args = hp_args(hps)
    if processing and not job.get("entry_point"):  # built-in processing (slipway.processing), no user code
        prefix = []
        cmd = [sys.executable, "-m", "slipway.processing", str(job["algorithm"])]
        cwd = paths.root
    elif job.get("kind") in ("script", "processing"):
        entry = paths.code / job["entry_point"]
        if not entry.is_file():
            return {"status": "Failed", "exit_code": None,
                    "failure_reason": f"The entry point {job['entry_point']!r} does not exist in the source folder."}
        try:
            python = ensure_environment(paths, Path(job["env_cache_dir"]))
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            return {"status": "Failed", "exit_code": None, "failure_reason": str(exc)}
        # Built just now by this process, the environment is writable to it: the script runs in a
        # tighter box (a second Landlock layer) that may only read it.
        prefix = list(job.get("script_sandbox") or [])
        cmd = [*prefix, python, job["entry_point"], *args]
        cwd = paths.code
    else:
        prefix = []
        cmd = [sys.executable, "-m", "slipway.training.builtin"]
        cwd = paths.root
    _set_memory_limit(job.get("memory_limit_mb"))
    shown = cmd[len(prefix) + 1:]
    _say(f"Job {job['name']}: running {' '.join(shown)}" + (" (warm process)" if in_process else ""))
    values = _secret_values(job)
    if in_process and job.get("kind") == "algorithm":
        code = _run_builtin_here(env, cwd)
    else:
        try:
            if values:
                code = _run_redacted(cmd, cwd, env, values)
            else:
                code = subprocess.Popen(cmd, cwd=cwd, env=env).wait()
        except OSError as exc:
            reason = f"Could not start the script: {exc}"
            if job.get("memory_limit_mb"):
                reason = f"The job exceeded its memory limit of {job['memory_limit_mb']} MB while starting. {reason}"
            return {"status": "Failed", "exit_code": None, "failure_reason": reason}
    if stop["requested"]:
        return {"status": "Stopped", "exit_code": code, "failure_reason": None}
    if code != 0:
        return {"status": "Failed", "exit_code": code,
                "failure_reason": failure_reason(paths, code, job.get("memory_limit_mb"))}
    if processing:  # the server pushes each output channel as a dataset version
        return {"status": "Completed", "exit_code": 0, "failure_reason": None}
    if not any(p.is_file() for p in paths.model.rglob("*")):
        return {"status": "Failed", "exit_code": 0, "failure_reason":
                f"The script exited 0 but wrote nothing to SM_MODEL_DIR ({paths.model}). Save the model there, "
                "e.g. joblib.dump(model, os.path.join(os.environ['SM_MODEL_DIR'], 'model.joblib'))."}
    if job.get("kind") == "script":
        from slipway.errors import InvalidArgument

        try:
            write_manifest(paths, job)
        except InvalidArgument as exc:
            return {"status": "Failed", "exit_code": 0, "failure_reason": f"The saved model cannot be described: "
                    f"{exc.message}"}
    return {"status": "Completed", "exit_code": 0, "failure_reason": None}


def main(argv: list[str] | None = None, in_process: bool = False) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m slipway.training.runner JOB_FOLDER", file=sys.stderr)
        return 2
    paths = JobPaths(argv[0])
    try:
        result = run(paths.root, in_process)
    except Exception as exc:  # a fault of the runner itself: still report, with the cause, instead of vanishing
        result = {"status": "Failed", "exit_code": None,
                  "failure_reason": f"The job runner failed: {type(exc).__name__}: {exc}"}
        trace = traceback.format_exc()
    else:
        trace = ""
    try:
        values = _secret_values(json.loads(paths.job_file.read_text()))
    except (OSError, ValueError):
        values = []
    if trace:  # to the log, through the redactor like everything the job prints
        sys.stdout.flush()
        sys.stdout.buffer.write(Redactor(values, sys.stdout.buffer).redact(trace.encode()))
        sys.stdout.flush()
    if values and result.get("failure_reason"):  # the script's own failure text may quote a secret
        result["failure_reason"] = Redactor(values, sys.stdout.buffer).redact(
            str(result["failure_reason"]).encode()).decode("utf-8", "replace")
    if result["status"] == "Failed":
        _say(f"Job failed: {str(result['failure_reason']).splitlines()[0]}")
    _write_result(paths, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
