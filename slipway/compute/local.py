"""``local``: each job is a process group on this machine, started with subprocess, never in the server.

With a sandbox, a cold job starts through the Landlock launcher; a warm spare gets the job's policy
with the job and confines a freshly forked child (see ``slipway.compute.warm``). Either way the job
gets a clean environment: what ``slipway.sandbox.user_environment`` lets through, no secret of the server's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from slipway.compute.base import Executor, ProcessState, Resources
from slipway.sandbox import Sandbox, user_environment

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
    """Concurrency defaults to the number of cores; stop signals go to the job's whole process group.

    With ``warm_pool``, the first built-in job starts a spare process that imports pandas and
    scikit-learn ahead of time (``slipway.compute.warm``); later built-in jobs take it over.
    """

    url = "local"

    def __init__(self, on_exit: Callable[[], None] | None = None, concurrency: int = 0, warm_pool: bool = True,
                 sandbox: Sandbox | None = None) -> None:
        super().__init__(on_exit)
        self.concurrency = concurrency or os.cpu_count() or 1
        self.warm_pool = warm_pool
        self.sandbox = sandbox
        self._spare: subprocess.Popen[bytes] | None = None
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._codes: dict[int, int] = {}  # exit codes of reaped processes, for every later poll (finish's too)
        self._lock = threading.Lock()

    def capacity(self) -> int:
        return self.concurrency

    def _env(self) -> dict[str, str]:
        env = user_environment(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn_spare(self) -> None:
        with self._lock:
            if self._spare is not None:  # jobs submitted together: one spare is enough
                return
        spare = subprocess.Popen(
            [sys.executable, "-m", "slipway.compute.warm"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=self._env(), start_new_session=True, close_fds=True,
        )
        with self._lock:
            extra = self._spare is not None  # another thread's came first: this one is not needed
            if not extra:
                self._spare = spare
        if extra:
            spare.kill()
            spare.wait()

    def _take_spare(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None and spare.poll() is not None:
            return None
        return spare

    def submit(self, job_dir: Path, log: Path, warm: bool = False, env: Mapping[str, str] | None = None,
               read: Sequence[Path] = (), write: Sequence[Path] = (), resources: Resources | None = None,
               name: str = "") -> str:
        # The job runs in the server's own folder: nothing to stage, sync or collect. ``resources`` is a
        # scheduler's request; here concurrency (job_concurrency) and memory_limit_mb do that work.
        log.parent.mkdir(parents=True, exist_ok=True)
        box = self.sandbox
        write = [job_dir, *write]
        # Raises SandboxUnavailable (setting 'landlock' on a kernel without it) before anything starts.
        active = box is not None and box.active
        # A spare process was started before this job's environment was known: a job with its own
        # variables (secrets) gets a fresh process.
        proc = self._take_spare() if warm and self.warm_pool and not env else None
        if proc is not None and proc.stdin is not None:
            policy = box.policy(read, write) if box is not None and active else None
            request = {"job_dir": str(job_dir), "log": str(log), "policy": policy}
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.close()
        else:
            cmd = [sys.executable, "-m", "slipway.training.runner", str(job_dir)]
            if box is not None:
                cmd = box.wrap(cmd, read, write)
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=job_dir,
                    env={**self._env(), **(env or {})},
                    start_new_session=True, close_fds=True,
                )
        with self._lock:
            self._procs[proc.pid] = proc
        threading.Thread(target=self._wait, args=(proc,), name=f"job-wait-{proc.pid}", daemon=True).start()
        if warm and self.warm_pool:
            # The next built-in job finds pandas and scikit-learn already imported.
            threading.Thread(target=self._spawn_spare, name="job-spare", daemon=True).start()
        return f"local:{proc.pid}:{_start_time(proc.pid) or ''}"

    def close(self) -> None:
        spare = self._take_spare()
        if spare is not None:
            with contextlib.suppress(OSError):
                spare.kill()
            spare.wait()
            if spare.stdin is not None:
                spare.stdin.close()

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
                self._codes[pid] = code
            return ProcessState(False, code)
        with self._lock:
            code = self._codes.get(pid)
        if code is not None:
            return ProcessState(False, code)
        now = _start_time(pid)
        return ProcessState(now is not None and (not started or now == started))

    def release(self, handle: str) -> None:
        pid, _ = self._pid(handle)
        with self._lock:
            self._codes.pop(pid, None)

    def _signal(self, handle: str, sig: int) -> None:
        pid, _ = self._pid(handle)
        if not self.poll(handle).running:  # ended: its pid, and so its group's id, may be another process's now
            return
        # The runner leads its own process group: the script and anything it started get the signal too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    def terminate(self, handle: str) -> None:
        self._signal(handle, signal.SIGTERM)

    def kill(self, handle: str) -> None:
        self._signal(handle, signal.SIGKILL)
