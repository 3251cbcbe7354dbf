"""Replica processes seen through /proc: start times against pid reuse, replicas an earlier server left.

Replicas outlive a crash of the server that started them, so a restarted server meets processes that
are not its children: it can neither ``waitpid`` them nor trust a bare pid (the kernel reuses pids).
A pid counts as the same replica only while its start time (/proc/PID/stat, field 22) is the recorded one
and its command line is a replica of this home.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["AdoptedProcess", "REPLICA_MODULE", "is_replica_of", "process_start", "replicas_of_home", "terminate"]

REPLICA_MODULE = "slipway.serving.replica"


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start(pid: int) -> int | None:
    """When ``pid`` started (clock ticks after boot); None when no such process runs (zombies count as gone)."""
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields is not None else None


def is_replica_of(pid: int, home: Path) -> bool:
    """True when ``pid`` runs ``python -m slipway.serving.replica`` for this home (``--name HOME/...``)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    prefix = str(home).encode() + b"/"
    return REPLICA_MODULE.encode() in cmdline and any(a.startswith(prefix) for a in cmdline)


def replicas_of_home(home: Path, keep: set[int]) -> list[int]:
    """Replica processes of ``home`` outside ``keep``, without the workers a replica forked itself.

    A replica's forked workers stop with it (they watch their parent), so only the first process counts.
    """
    found = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and int(p.name) != os.getpid()]
    mine = {pid for pid in found if is_replica_of(pid, home)}
    return sorted(pid for pid in mine if pid not in keep and _parent(pid) not in mine | keep)


class AdoptedProcess:
    """The ``subprocess.Popen`` calls the runtime makes, for a replica that is not this process's child."""

    def __init__(self, pid: int, start: int) -> None:
        self.pid = pid
        self.start = start
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and process_start(self.pid) != self.start:
            self.returncode = -1  # not our child: its exit status is its new parent's to read
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            time.sleep(0.02)  # no waitpid on another parent's child: /proc is all there is
        assert self.returncode is not None
        return self.returncode


def terminate(pids: list[int], timeout: float = 10.0) -> None:
    """SIGTERM each (a replica finishes its requests in flight), SIGKILL what is left after ``timeout``."""
    procs = [AdoptedProcess(pid, start) for pid in pids if (start := process_start(pid)) is not None]
    for p in procs:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5.0)
