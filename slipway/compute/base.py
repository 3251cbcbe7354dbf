"""The executor contract: start a job's process, tell whether it still runs, signal it.

An executor knows processes, not jobs: the jobs controller keeps the meaning in the database.
A handle (a string stored on the job row) lets a restarted server find a process again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Executor", "ProcessState"]


@dataclass(frozen=True)
class ProcessState:
    running: bool
    exit_code: int | None = None  # None when unknown (a process adopted after a restart)


class Executor(ABC):
    """Runs ``python -m slipway.training.runner <job folder>`` somewhere, its output going to ``log``."""

    url: str = ""

    def __init__(self, on_exit: Callable[[], None] | None = None) -> None:
        self.on_exit = on_exit or (lambda: None)

    @abstractmethod
    def capacity(self) -> int:
        """How many jobs may run at once."""

    @abstractmethod
    def submit(self, job_dir: Path, log: Path, warm: bool = False, env: Mapping[str, str] | None = None) -> str:
        """Start the job's process; return its handle. ``warm``: a built-in that may use a pre-warmed process.
        ``env``: variables added to the process's environment (the job's secrets), never written to disk."""

    @abstractmethod
    def poll(self, handle: str) -> ProcessState:
        """Whether the process of ``handle`` still runs (a handle from before a restart included)."""

    @abstractmethod
    def terminate(self, handle: str) -> None:
        """Ask the process (and its children) to stop: SIGTERM."""

    @abstractmethod
    def kill(self, handle: str) -> None:
        """Stop the process (and its children) now: SIGKILL."""

    def close(self) -> None:
        """Release what the executor holds (spare processes); running jobs are left alone."""

    def describe(self) -> str:
        return self.url
