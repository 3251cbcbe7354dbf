"""``local``: each job is a process group on this machine, started with subprocess, never in the server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from slipway.compute.base import Executor, ProcessState

__all__ = ["LocalExecutor"]


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (guards against a reused pid), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie has finished
        return None
    return fields[19]


class LocalExecutor(Executor):
    """Concurrency defaults to the number of cores; stop signals go to the job's whole process group."""

    url = "local"

    def __init__(self, on_exit: Callable[[], None] | None = None, concurrency: int = 0) -> None:
        super().__init__(on_exit)
        self.concurrency = concurrency or os.cpu_count() or 1
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def capacity(self) -> int:
        return self.concurrency

    def submit(self, job_dir: Path, log: Path) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "SM_"))}
        env["PYTHONUNBUFFERED"] = "1"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "slipway.training.runner", str(job_dir)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=job_dir, env=env,
                start_new_session=True, close_fds=True,
            )
        with self._lock:
            self._procs[proc.pid] = proc
        threading.Thread(target=self._wait, args=(proc,), name=f"job-wait-{proc.pid}", daemon=True).start()
        return f"local:{proc.pid}:{_start_time(proc.pid) or ''}"

    def _wait(self, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        self.on_exit()

    @staticmethod
    def _pid(handle: str) -> tuple[int, str]:
        _, pid, started = handle.split(":", 2)
        return int(pid), started

    def poll(self, handle: str) -> ProcessState:
        pid, started = self._pid(handle)
        with self._lock:
            proc = self._procs.get(pid)
        if proc is not None:
            code = proc.poll()
            if code is None:
                return ProcessState(True)
            with self._lock:
                self._procs.pop(pid, None)
            return ProcessState(False, code)
        now = _start_time(pid)
        return ProcessState(now is not None and (not started or now == started))

    def _signal(self, handle: str, sig: int) -> None:
        pid, _ = self._pid(handle)
        # The runner leads its own process group: the script and anything it started get the signal too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def terminate(self, handle: str) -> None:
        self._signal(handle, signal.SIGTERM)

    def kill(self, handle: str) -> None:
        self._signal(handle, signal.SIGKILL)
