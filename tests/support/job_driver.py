"""Driving the real job machinery of a Platform without a server: claim, launch, follow, finish."""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
from pathlib import Path

from slipway.services import Platform


def upload_source(p: Platform, files: dict[str, str]) -> str:
    """A source folder of ``files`` (name -> text) stored as a job source; returns its sha256."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    tmp = p.settings.tmp_dir / "src.tar"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(raw)
    return p.training.put_source(tmp, len(raw), hashlib.sha256(raw).hexdigest())


def run_jobs(p: Platform, timeout: float = 120.0) -> None:
    """Start every Pending job and follow each until it has ended and been finished."""
    for name in p.job_runs.claim(100):
        p.job_runs.launch(name)
    deadline = time.monotonic() + timeout
    while p.job_runs.active():
        for name, status, handle in p.job_runs.active():
            if p.job_runs.check(name, status, handle):
                p.job_runs.finish(name)
        if time.monotonic() > deadline:
            raise TimeoutError(f"jobs still running: {p.job_runs.active()}")
        time.sleep(0.05)


def write_csv(path: Path, rows: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x,y,label\n" + "".join(f"{i},{(i * 7) % 11},{'yes' if (i * 7) % 11 > 5 else 'no'}\n" for i in range(rows)))
    return path
