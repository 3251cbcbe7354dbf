"""The executor contract: take a job's folder to where it runs, start it, follow it, bring its results back.

An executor knows processes, not jobs: the jobs controller keeps the meaning in the database.
A handle (a string stored on the job row) lets a restarted server find a process again.

The server prepares a job's folder on its own disk (inputs and code from the artifact store,
job.json) and calls ``submit``; everything after that touches the folder only through the
executor: ``sync`` brings the running job's new log and metrics lines into the server's copy,
``collect`` brings its results back (result.json, the model, outputs) once it has ended, and
``release`` frees what the job still holds where it ran. An executor that runs jobs in the
server's own folder (``local``) has nothing to move: those three do nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Executor", "ProcessState", "Resources"]


@dataclass(frozen=True)
class ProcessState:
    running: bool
    exit_code: int | None = None  # None when unknown (a process adopted after a restart)
    reason: str | None = None  # why it ended, when the executor knows better than an exit code (a lost node)


@dataclass(frozen=True)
class Resources:
    """What one job asks of the machine it runs on (a scheduler's request; ``local`` runs it here regardless)."""

    cpus: float = 1.0
    gpus: float = 0.0
    memory_mb: int | None = None

    @classmethod
    def asked(cls, cpus: float | None = None, gpus: float | None = None,
              memory_mb: int | None = None) -> Resources:
        """A job's request from its optional fields: 1 CPU and no GPU unless it asks otherwise."""
        return cls(cpus=cpus or 1.0, gpus=gpus or 0.0, memory_mb=memory_mb or None)


class Executor(ABC):
    """Runs ``python -m slipway.training.runner <job folder>`` somewhere, its output going to ``log``."""

    url: str = ""

    def __init__(self, on_exit: Callable[[], None] | None = None) -> None:
        self.on_exit = on_exit or (lambda: None)

    @abstractmethod
    def capacity(self) -> int:
        """How many jobs may run at once."""

    @abstractmethod
    def submit(self, job_dir: Path, log: Path, warm: bool = False, env: Mapping[str, str] | None = None,
               read: Sequence[Path] = (), write: Sequence[Path] = (), resources: Resources | None = None,
               name: str = "") -> str:
        """Start the job's process; return its handle. ``warm``: a built-in that may use a pre-warmed process.

        ``job_dir`` is the prepared folder on the server; ``log`` is where the server reads the job's output
        (``sync`` keeps it current when the job runs elsewhere). ``name``: the job's, for the executor's labels.

        ``env``: variables added to the process's environment (the job's secrets), never written to disk.
        The process may write its ``job_dir`` (and ``write``), read ``read`` besides, and nothing else of
        the platform's home, when the executor has a sandbox.
        """

    @abstractmethod
    def poll(self, handle: str) -> ProcessState:
        """Whether the process of ``handle`` still runs (a handle from before a restart included)."""

    @abstractmethod
    def terminate(self, handle: str) -> None:
        """Ask the process (and its children) to stop: SIGTERM."""

    @abstractmethod
    def kill(self, handle: str) -> None:
        """Stop the process (and its children) now: SIGKILL."""

    def sync(self, handle: str, job_dir: Path, log: Path) -> None:
        """Bring what the running job appended to its log and metrics into ``log`` and ``job_dir`` here."""

    def collect(self, handle: str, job_dir: Path, log: Path) -> None:
        """After the job ended: bring its last log lines and its results (``slipway/result.json``, ``model/``,
        ``output/``, ``processing/output/``) into ``job_dir`` here."""

    def release(self, handle: str) -> None:
        """Free what the ended job still holds where it ran (its folder, its worker)."""

    def close(self) -> None:
        """Release what the executor holds (spare processes); running jobs are left alone."""

    def fits(self, resources: Resources) -> None:
        """Raise InvalidArgument when no machine of this executor could ever run a job asking ``resources``
        (checked when the job is created). The local executor runs every job here, whatever it asks."""

    def describe(self) -> str:
        return self.url
