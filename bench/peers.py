"""MLflow and BentoML serving the same models as bench/serving.py, from the virtual environments named in
SLIPWAY_BENCH_PEERS (os.pathsep-separated, prepared beforehand: nothing is downloaded at run time).

Each peer is started with the venv's own executables, checked with a 200 on POST /invocations for the
bench's request body, and handed back with its cold start (serve command launched to that first 200).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import psutil

DETECT = """
import importlib, json
found = {}
for name in ("mlflow", "bentoml", "sklearn", "uvloop", "httptools"):
    try:
        found[name] = str(importlib.import_module(name).__version__)
    except Exception:
        pass
print(json.dumps(found))
"""

SAVE_MLFLOW = """
import inspect, sys, joblib, sklearn, mlflow.sklearn
est = joblib.load(sys.argv[1])
kw = {}
if "pyfunc_predict_fn" in inspect.signature(mlflow.sklearn.save_model).parameters:
    kw["pyfunc_predict_fn"] = "predict_proba"
# cloudpickle: MLflow 3's default, skops, refuses to load a forest's trees unless they are listed as trusted.
# Requirements given, so MLflow does not infer them by loading the model in a subprocess; served locally anyway.
mlflow.sklearn.save_model(est, sys.argv[2], serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                          pip_requirements=[f"scikit-learn=={sklearn.__version__}"], **kw)
print(kw.get("pyfunc_predict_fn", "predict"))
"""

BENTO_SERVICE = '''
import bentoml, joblib, numpy as np

@bentoml.service(workers=2, logging={{"access": {{"enabled": False}}}})
class Model:
    def __init__(self) -> None:
        self.model = joblib.load({model!r})

    @bentoml.api(batchable={batchable})
    def invocations(self, instances: list[list[float]]) -> list[list[float]]:
        return self.model.predict_proba(np.asarray(instances, dtype=float)).tolist()
'''

JSON = {"Content-Type": "application/json"}


class PeerError(Exception):
    """A peer that did not start or did not answer 200; the message ends with its last log lines."""


class PeerProcess(subprocess.Popen[bytes]):
    """terminate() and kill() reach the whole tree: stopping `mlflow models serve` alone left its uvicorn running
    (MLflow 3.17), and BentoML's workers sit in process groups of their own."""

    def send_signal(self, sig: int) -> None:
        try:
            tree = psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            tree = []
        for p in tree:
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass
        super().send_signal(sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Served(NamedTuple):
    """One peer serving one model: its row label, process, URL and cold start in seconds."""

    model: str
    target: str
    proc: PeerProcess
    url: str
    cold: float


def detect(venv: Path) -> dict[str, str]:
    """Versions of mlflow, bentoml and what matters beside them, as imported by the venv's python."""
    out = subprocess.run([str(venv / "bin" / "python"), "-c", DETECT], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise PeerError(f"{venv}/bin/python failed: {out.stderr.strip()[-300:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _env(venv: Path, work: Path, env: dict[str, str]) -> dict[str, str]:
    # venv/bin first: `mlflow models serve` runs `uvicorn` from PATH. Telemetry off: the bench runs offline.
    # Access logs off, as on the minimal server.
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", "VIRTUAL_ENV": str(venv),
            "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "BENTOML_DO_NOT_TRACK": "true",
            "BENTOML_HOME": str(work / "bentoml-home"), "UVICORN_ACCESS_LOG": "false"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _indent(text: str, n: int = 10) -> str:
    """The last n lines, indented to sit under a Markdown list item."""
    return "\n".join(f"    {line}" for line in text.strip().splitlines()[-n:]) or "    (nothing written)"


def _launch(target: str, model: str, argv: list[str], log: Path, env: dict[str, str], body: bytes, url: str,
            timeout: float = 180.0) -> Served:
    """Start argv and wait for a 200 to the bench's body; cold start = launch to that 200."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = PeerProcess(argv, cwd=log.parent, env=env, stdout=out, stderr=subprocess.STDOUT)
    problem = f"no 200 from {url} within {timeout:g} s"
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            problem = f"exited with status {proc.returncode}"
            break
        if b"Traceback (most recent call last)" in log.read_bytes():  # uvicorn and circus restart workers forever
            time.sleep(1)  # let the traceback be written out
            problem = "a worker failed"
            break
        try:
            r = httpx.post(url, content=body, headers=JSON, timeout=10)
            if r.status_code == 200:
                return Served(model, target, proc, url, time.perf_counter() - t0)
            if r.status_code < 500:  # the request itself is refused: waiting will not change that
                problem = f"HTTP {r.status_code}: {r.text[:200]}"
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    proc.wait(20)
    raise PeerError(f"{target}: {problem}; last lines of {log}:\n{_indent(log.read_text(errors='replace'))}")


def start_mlflow(venv: Path, version: str, work: Path, name: str, model_file: Path, body: bytes,
                 env: dict[str, str]) -> Served:
    """`mlflow models serve` on an MLflow model saved from model_file by the venv's python."""
    slug = name.replace("-", "_")
    model_dir = work / f"mlflow_{slug}"
    saved = subprocess.run([str(venv / "bin" / "python"), "-c", SAVE_MLFLOW, str(model_file), str(model_dir)],
                           capture_output=True, text=True, env=env, timeout=600)
    if saved.returncode != 0:
        raise PeerError(f"MLflow {version}: mlflow.sklearn.save_model failed:\n{_indent(saved.stderr)}")
    method = saved.stdout.strip().splitlines()[-1]
    mlflow = str(venv / "bin" / "mlflow")
    flags = subprocess.run([mlflow, "models", "serve", "--help"], capture_output=True, text=True, env=env,
                           timeout=300).stdout
    workers = ["--workers", "2"] if "--workers" in flags else []  # as the minimal server; older MLflow: 1
    local = ["--env-manager", "local"] if "--env-manager" in flags else ["--no-conda"]
    port = _free_port()
    target = f"MLflow {version} models serve {' '.join(workers) or '(1 worker)'}, pyfunc {method}"
    return _launch(target, name, [mlflow, "models", "serve", "-m", str(model_dir), "-h", "127.0.0.1", "-p", str(port),
                                  *workers, *local], work / f"mlflow_{slug}.log", env, body,
                   f"http://127.0.0.1:{port}/invocations")


def start_bentoml(venv: Path, version: str, work: Path, name: str, model_file: Path, body: bytes,
                  env: dict[str, str], batchable: bool = False) -> Served:
    """`bentoml serve` on a service file with 2 workers calling predict_proba."""
    module = f"bento_{name.replace('-', '_')}{'_batch' if batchable else ''}"
    (work / f"{module}.py").write_text(BENTO_SERVICE.format(model=str(model_file), batchable=batchable))
    port = _free_port()
    target = f"BentoML {version}, 2 workers{', batchable' if batchable else ''}"
    return _launch(target, name, [str(venv / "bin" / "bentoml"), "serve", f"{module}:Model", "--host", "127.0.0.1",
                                  "--port", str(port), "--working-dir", str(work)], work / f"{module}.log", env, body,
                   f"http://127.0.0.1:{port}/invocations")


def serve(spec: str, work: Path, models: dict[str, tuple[Any, list[float]]], env: dict[str, str],
          procs: list[Any]) -> tuple[list[Served], list[str]]:
    """Every peer found in the venvs of spec, serving every model, appended to procs as they start.
    Returns those serving and notes to print: what each venv holds, what was skipped and why."""
    import joblib
    import sklearn

    venvs = [Path(p) for p in spec.split(os.pathsep) if p]
    files = {name: work / f"peer_{name.replace('-', '_')}.joblib" for name in models}
    for name, (est, _) in models.items() if venvs else []:
        joblib.dump(est, files[name])
    served: list[Served] = []
    notes: list[str] = []
    for venv in venvs:
        try:
            found = detect(venv)
        except (PeerError, OSError, subprocess.TimeoutExpired, ValueError) as e:
            notes.append(f"peer venv {venv}: skipped, its python did not run ({e})")
            continue
        if "mlflow" not in found and "bentoml" not in found:
            notes.append(f"peer venv {venv}: neither mlflow nor bentoml found, skipped")
            continue
        notes.append(f"peer venv {venv}: " + ", ".join(f"{k} {found.get(k, '-')}" for k in
                                                        ("mlflow", "bentoml", "sklearn", "uvloop", "httptools")))
        if found.get("sklearn") != sklearn.__version__:
            notes.append(f"peer venv {venv}: scikit-learn {found.get('sklearn', 'missing')}, the bench has "
                         f"{sklearn.__version__}: the pickled models may not load")
        penv = _env(venv, work, env)
        for name, (_, row) in models.items():
            body = json.dumps({"instances": [row]}).encode()
            starts = []
            if "mlflow" in found:
                starts.append(partial(start_mlflow, venv, found["mlflow"], work, name, files[name], body, penv))
            if "bentoml" in found:
                starts += [partial(start_bentoml, venv, found["bentoml"], work, name, files[name], body, penv, b)
                           for b in (False, True)]
            for start in starts:
                try:
                    peer = start()
                except (PeerError, OSError, subprocess.TimeoutExpired) as e:
                    notes.append(f"{name} with {venv}: skipped, {e}")
                    continue
                procs.append(peer.proc)
                served.append(peer)
    return served, notes
