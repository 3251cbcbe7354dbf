"""Cached Python environments for a source folder's requirements.txt, shared by jobs and model replicas.

The same requirements.txt (same bytes, same Python) gives the same environment, so a model's replicas
run in the very environment its training job ran in. Standard library only.

An environment lives in one folder, its lock and its ready marker inside it: a sandboxed job (or the
sandboxed builder a replica start runs) may write that one folder and nothing else of the cache. A
ready environment is only ever read.

``python -m slipway.training.environments REQUIREMENTS CACHE`` builds one (the server runs it in the
sandbox: pip may run a package's build code).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["environment_dir", "is_ready", "python_of", "requirements_python"]

_READY = ".slipway-ready"
_LOCK = ".slipway-lock"


def environment_dir(cache: Path, requirements: bytes) -> Path:
    """Where the environment for these ``requirements.txt`` contents lives (one per contents and Python)."""
    return cache / hashlib.sha256(requirements + sys.version.encode()).hexdigest()[:16]


def python_of(env_dir: Path) -> str:
    return str(env_dir / "bin" / "python")


def is_ready(env_dir: Path) -> bool:
    return (env_dir / _READY).exists()


def _clear(env_dir: Path) -> None:
    import shutil

    for entry in env_dir.iterdir():
        if entry.name.startswith(".slipway-"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def requirements_python(req: Path, cache: Path, say: Callable[[str], None] = print) -> str:
    """The Python for code with ``req`` beside it: a cached venv with it installed (made once per content
    and Python version, under a lock), or ours when there is no requirements.txt. Raises RuntimeError with
    pip's own error lines when it cannot be installed."""
    if not req.is_file():
        return sys.executable
    import fcntl
    import site
    import sysconfig

    env_dir = environment_dir(cache, req.read_bytes())
    key = env_dir.name
    python = python_of(env_dir)
    if is_ready(env_dir):
        say(f"Using the cached environment {key} for requirements.txt")
        return python
    env_dir.mkdir(parents=True, exist_ok=True)
    with open(env_dir / _LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(env_dir):
            say(f"Using the cached environment {key} for requirements.txt")
            return python
        say(f"Installing requirements.txt into environment {key}")
        _clear(env_dir)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(env_dir)],
                       check=True)
        # The new environment sees ours (Slipway, scikit-learn, pip) after its own packages.
        purelib = Path(subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
        parents = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if os.path.isdir(p)]
        purelib.mkdir(parents=True, exist_ok=True)
        (purelib / "_slipway_parent.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in dict.fromkeys(parents)))
        # pip's errors go to the log as they come and into the failure reason; a package index that does not
        # answer fails after pip's own timeout instead of hanging the job.
        proc = subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                               "--retries", "1", "--timeout", "30", "-r", str(req)],
                              cwd=req.parent, stderr=subprocess.PIPE, text=True, errors="replace")
        sys.stderr.write(proc.stderr)
        sys.stderr.flush()
        if proc.returncode != 0:
            _clear(env_dir)
            errors = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip().startswith("ERROR")]
            raise RuntimeError(f"Installing requirements.txt failed (pip exited with {proc.returncode}):\n"
                               + "\n".join((errors or proc.stderr.strip().splitlines())[-8:]))
        (env_dir / _READY).write_text(req.read_text())
    return python


if __name__ == "__main__":
    try:
        print(requirements_python(Path(sys.argv[1]), Path(sys.argv[2]), say=lambda m: print(m, file=sys.stderr)))
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
