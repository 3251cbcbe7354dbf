"""Processes seen through /proc: a pid counts as the same process only with its recorded start time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from slipway.serving.processes import AdoptedProcess, is_replica_of, process_start, replicas_of_home, terminate


def test_an_adopted_process_is_followed_and_stopped_without_being_our_child(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # Looks like a replica of this home to /proc (the module name and --name HOME/...), but only sleeps.
    code = "import sys, time; time.sleep(60)"
    with subprocess.Popen([sys.executable, "-c", code, "slipway.serving.replica", "--name", f"{home}/ep/v"]) as proc:
        start = process_start(proc.pid)
        assert start is not None
        assert is_replica_of(proc.pid, home) and not is_replica_of(proc.pid, tmp_path / "other")
        assert replicas_of_home(home, keep=set()) == [proc.pid]
        assert replicas_of_home(home, keep={proc.pid}) == []
        assert AdoptedProcess(proc.pid, start + 1).poll() == -1  # a later process with the same pid is not it
        adopted = AdoptedProcess(proc.pid, start)
        assert adopted.poll() is None
        terminate([proc.pid])
        assert proc.wait(5) == -15
    assert adopted.poll() == -1 and process_start(proc.pid) is None
