"""Model inspection: the registration-time work that needs a user's model, done in a confined child process.

Registering a model reads its signature and problem type off a pickled estimator and exports it to
ONNX (verified against the framework on sample rows). Loading a pickle, a TorchScript file or user
code runs whatever the file says, so none of it happens in the server: :class:`Inspector` starts
the child (``slipway/inspection/child.py``) inside the sandbox (it may read the unpacked artifact and
write one private scratch folder, nothing of the platform's home), under a time and a memory limit.
The child writes plain data back — ``result.json`` and ``model.onnx`` — and the server only reads JSON
and copies files: it never unpickles. Whatever goes wrong in the child (an exception while loading,
a crash, the memory limit, the time limit) becomes an :class:`~slipway.errors.InvalidArgument` that
names the cause.

Measured on the shared 2-core development machine (load average 7-12): a cold child pays ~3 s of CPU
importing scikit-learn, skl2onnx and ONNX Runtime (10 s wall under that load); forked from a ready
spare, inspecting a .joblib estimator took 0.3-0.7 s (see :class:`Inspector`, and
bench/registration.py for whole registrations). An inspection's address space peaks under 2 GB (a
PyTorch CNN exported from a spare with scikit-learn and PyTorch imported: 1.6 GB), hence the default
memory limit of 4 GB.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument
from slipway.sandbox import Sandbox

__all__ = ["REQUEST", "RESULT", "Inspection", "Inspector", "copy_export", "describe_into"]

log = logging.getLogger("slipway.inspection")
REQUEST = "request.json"  # what the server asks, written into the scratch folder
RESULT = "result.json"    # what the child answers, read back as JSON only
VIEW = "artifact"         # the child's working view of the artifact (links to it, plus what it writes)
LOG = "output.log"        # the child's stdout and stderr: its last line names a crash
MAX_RESULT_BYTES = 4 << 20  # a manifest with thousands of columns fits; anything bigger is not ours
ONNX_FILE = "model.onnx"  # artifacts.onnx_runtime.ONNX_FILE, without importing numpy into the server for it


def describe_into(manifest: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the problem type and signature read off an estimator (``describe_estimator``'s answer)."""
    return {**manifest, "problem_type": info["problem_type"],
            "signature": {"input_kind": "tabular", "inputs": info["inputs"], "input_shape": None,
                          "labels": info["labels"]}}


@dataclass(frozen=True)
class Inspection:
    """What the child found: manifest fields to take over, and the verified export (a file in the scratch folder)."""

    fields: dict[str, Any]
    onnx_file: Path | None = None
    seconds: float = 0.0


class Inspector:
    """Runs the inspection of one artifact folder in a confined, time- and memory-limited child.

    With ``warm`` (the default), each inspection also starts a spare process that has scikit-learn,
    skl2onnx and ONNX Runtime imported and waits on stdin (``child.py --spare``); the next inspection is
    handed to it, and the spare forks: the fork (one thread) confines itself with the sandbox, sets its
    limits and only then reads the model. That spares a registration the ~3 s of CPU those imports take.
    """

    def __init__(self, sandbox: Sandbox, tmp_dir: Path, *, timeout: float = 120.0, memory_limit_mb: int = 4096,
                 warm: bool = True) -> None:
        self.sandbox = sandbox
        self.tmp_dir = tmp_dir
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self.warm = warm
        self._spare: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._lock = threading.Lock()

    def inspect(self, folder: Path, manifest: dict[str, Any], *, describe: str | None = None, onnx: bool = True,
                scratch: Path | None = None) -> Inspection:
        """Inspect ``folder`` (read only) in a child: ``describe`` names an estimator file to read the
        signature off; ``onnx`` exports and verifies. The caller owns ``scratch`` (made when None) and
        removes it after taking the export."""
        scratch = scratch or Path(tempfile.mkdtemp(prefix="inspect-", dir=self.tmp_dir))
        scratch.mkdir(parents=True, exist_ok=True)
        (scratch / "tmp").mkdir(exist_ok=True)
        request = {"folder": str(folder), "view": str(scratch / VIEW), "manifest": manifest, "describe": describe,
                   "onnx": onnx, "memory_limit_mb": self.memory_limit_mb, "result": str(scratch / RESULT)}
        (scratch / REQUEST).write_text(json.dumps(request))
        started = time.monotonic()
        proc = self._start(folder, scratch, str(manifest.get("framework")))
        try:
            code = proc.wait(timeout=self.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out, code = True, None
        finally:
            # The child leads its own process group: whatever it started goes with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.returncode is None:
                proc.wait()
        seconds = time.monotonic() - started
        log.debug("Inspected %s in %.2f s (exit code %s)", folder.name, seconds, code)
        if timed_out:
            raise InvalidArgument(
                f"Inspecting the model took longer than {self.timeout:g} s and was stopped (loading it or exporting "
                "it to ONNX did not finish). Expected a model that loads within the setting 'inspect_timeout'; "
                "raise it for a very large model, or register with onnx turned off (--no-onnx).",
                {"field": "artifact", "timeout": self.timeout},
            )
        result = _read_json(scratch / RESULT)
        if code != 0 or result is None or not result.get("ok"):
            raise InvalidArgument(self._failure(code, result, scratch), {"field": "artifact", "exit_code": code})
        fields = {k: result[k] for k in ("problem_type", "signature", "onnx") if k in result}
        onnx_file = None
        if isinstance(fields.get("onnx"), dict) and fields["onnx"].get("verified"):
            onnx_file = _plain_file(scratch / VIEW / ONNX_FILE)
            if onnx_file is None:
                fields["onnx"] = {"verified": False, "reason": "the export was reported verified but not written"}
        return Inspection(fields, onnx_file, seconds)

    def _start(self, folder: Path, scratch: Path, framework: str) -> subprocess.Popen[bytes]:
        """The child: the spare when one is ready (it forks and confines itself), else a cold confined process.

        The next spare also imports PyTorch when this model is a PyTorch one (a user registering networks
        registers more of them); otherwise it leaves PyTorch out, ~180 MB less held while it waits."""
        spare = self._take_spare()
        if spare is not None and spare.stdin is not None:
            order = {"request": str(scratch / REQUEST), "log": str(scratch / LOG), "home": str(self.sandbox.home),
                     "mode": self.sandbox.mode, "read": [str(folder)], "write": [str(scratch)],
                     "env": self._child_env(scratch), "cwd": str(scratch)}
            try:
                spare.stdin.write((json.dumps(order) + "\n").encode())
                spare.stdin.close()
            except OSError:  # the spare died while waiting (killed by hand): start cold
                spare.wait()
                spare = None
        if self.warm:
            threading.Thread(target=self._spawn_spare, args=(framework == "pytorch",), name="inspect-spare",
                             daemon=True).start()
        if spare is not None:
            return spare
        command = self.sandbox.wrap([*_CHILD, str(scratch / REQUEST)],
                                    read=[folder], write=[scratch])
        with open(scratch / LOG, "wb") as log:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=scratch, env={**_server_free_env(), **self._child_env(scratch)},
                                    start_new_session=True, close_fds=True)

    def _child_env(self, scratch: Path) -> dict[str, str]:
        return {"HOME": str(scratch), "TMPDIR": str(scratch / "tmp"), "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1"}

    def _spawn_spare(self, torch: bool = False) -> None:
        with self._lock:
            if self._closed or self._spare is not None:
                return
            # One thread per library: the spare forks, and only the forking thread goes on in the child.
            env = {**_server_free_env(), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "PYTHONDONTWRITEBYTECODE": "1"}
            self._spare = subprocess.Popen(
                [*_CHILD, "--spare", *(["pytorch"] if torch else [])],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=self.tmp_dir,
                start_new_session=True, close_fds=True,
            )

    def _take_spare(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is not None:
            return None
        return spare

    def close(self) -> None:
        """Stop the spare (a spare whose server is gone also sees its stdin close and exits)."""
        with self._lock:
            self._closed = True
            spare, self._spare = self._spare, None
        if spare is not None:
            with contextlib.suppress(OSError):
                if spare.stdin is not None:
                    spare.stdin.close()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(spare.pid, signal.SIGKILL)
            spare.wait()

    def _failure(self, code: int | None, result: dict[str, Any] | None, scratch: Path) -> str:
        ours = result is not None and bool(result.get("error")) and bool(result.get("invalid"))
        if result is not None and result.get("error"):
            cause = str(result["error"])[:2000]
        else:
            cause = _last_line(scratch / LOG) or "no output"
        memory = self.memory_limit_mb and ("MemoryError" in cause or "bad_alloc" in cause
                                           or code in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT))
        if ours and not memory:  # already one of ours, naming the field and what was expected
            return cause
        if memory:
            return (f"Inspecting the model failed, probably at its memory limit of {self.memory_limit_mb} MB (setting "
                    f"'inspect_memory_limit_mb'): {cause}. Raise the limit for a very large model.")
        how = f"exit code {code}" if code is None or code >= 0 else f"signal {signal.Signals(-code).name}"
        return (f"Inspecting the model failed ({how}): {cause}. Expected a model that loads with its framework; "
                "check that it was saved as the artifact contract says (docs/developing.md).")


# The child runs the server's own Slipway, wherever its environment's import path would lead (an editable
# install elsewhere, a PYTHONPATH): the folder holding this package goes first unless it is on the path.
_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; root = sys.argv.pop(1); root in sys.path or sys.path.insert(0, root); "
         "from slipway.inspection.child import run; run(sys.argv[1:])")
_CHILD = [sys.executable, "-c", _BOOT, _ROOT]


def _server_free_env() -> dict[str, str]:
    """The server's environment without its own configuration (a master key may come in SLIPWAY_MASTER_KEY)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "SM_"))}


def _read_json(path: Path) -> dict[str, Any] | None:
    """The child's answer as plain JSON, or None: never a link, a special file or anything huge."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_RESULT_BYTES:
            return None
        try:
            data = json.loads(f.read(MAX_RESULT_BYTES))
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _plain_file(path: Path) -> Path | None:
    """``path`` when it is a regular file of its own (no link to a file elsewhere, symbolic or hard)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return path if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 else None


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 8192))
            tail = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def copy_export(inspection: Inspection, folder: Path) -> None:
    """Put the verified export into the artifact folder: a copy made through a descriptor that is checked to
    be a regular file of its own, so a link planted in the child's scratch folder copies nothing else."""
    if inspection.onnx_file is None:
        return
    fd = os.open(inspection.onnx_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as src:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            raise InvalidArgument("The model's ONNX export is not a plain file. Register it again, or with onnx "
                                  "turned off (--no-onnx).", {"field": "artifact"})
        with open(folder / ONNX_FILE, "wb") as dest:
            shutil.copyfileobj(src, dest, 1 << 20)
