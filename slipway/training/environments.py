"""Cached Python environments for a source folder's requirements.txt, shared by jobs and model replicas.

The same requirements.txt (same bytes, same Python) gives the same environment, so a model's replicas
run in the very environment its training job ran in. Standard library only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["requirements_python"]


def requirements_python(req: Path, cache: Path, say: Callable[[str], None] = print) -> str:
    """The Python for code with ``req`` beside it: a cached venv with it installed (made once per content
    and Python version, under a lock), or ours when there is no requirements.txt. Raises RuntimeError with
    pip's own error lines when it cannot be installed."""
    if not req.is_file():
        return sys.executable
    import fcntl
    import hashlib
    import shutil
    import site
    import sysconfig

    key = hashlib.sha256(req.read_bytes() + sys.version.encode()).hexdigest()[:16]
    cache.mkdir(parents=True, exist_ok=True)
    env_dir = cache / key
    python = env_dir / "bin" / "python"
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (env_dir / ".slipway-ready").exists():
            say(f"Using the cached environment {key} for requirements.txt")
            return str(python)
        say(f"Installing requirements.txt into environment {key}")
        shutil.rmtree(env_dir, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(env_dir)],
                       check=True)
        # The new environment sees ours (Slipway, scikit-learn, pip) after its own packages.
        purelib = Path(subprocess.check_output(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
        parents = [p for p in site.getsitepackages() + [sysconfig.get_paths()["purelib"]] if os.path.isdir(p)]
        purelib.mkdir(parents=True, exist_ok=True)
        (purelib / "_slipway_parent.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in dict.fromkeys(parents)))
        # pip's errors go to the log as they come and into the failure reason; a package index that does not
        # answer fails after pip's own timeout instead of hanging the job.
        proc = subprocess.run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                               "--retries", "1", "--timeout", "30", "-r", str(req)],
                              cwd=req.parent, stderr=subprocess.PIPE, text=True, errors="replace")
        sys.stderr.write(proc.stderr)
        sys.stderr.flush()
        if proc.returncode != 0:
            shutil.rmtree(env_dir, ignore_errors=True)
            errors = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip().startswith("ERROR")]
            raise RuntimeError(f"Installing requirements.txt failed (pip exited with {proc.returncode}):\n"
                               + "\n".join((errors or proc.stderr.strip().splitlines())[-8:]))
        (env_dir / ".slipway-ready").write_text(req.read_text())
    return str(python)
