"""A job's process on a machine the server does not own: the runner's parent, watching its own parent.

``python -m slipway.compute.guard JOB_FOLDER PARENT_PID [-- COMMAND…]`` leads the job's process group
and runs ``COMMAND`` in it: ``python -m slipway.training.runner JOB_FOLDER``, started through the
sandbox's launcher when the job is confined. It ignores SIGTERM (the runner and the
script get it through the group and stop cleanly) and ends with the runner's status, so stop,
kill and exit codes work as for a local job. When ``PARENT_PID`` — the Ray worker that started it —
is gone (killed, its node lost), it kills the whole group: a job never outlives the worker that
answers for it, and its folder on the node goes too (the guard itself is outside the job's box, which
may not remove its own folder from the node's folder of jobs). Standard library only.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

__all__ = ["main"]

WATCH_EVERY = 0.5  # seconds between checks that the parent worker still runs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return os.getppid() == pid


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def main(argv: list[str]) -> int:
    root, parent = argv[0], int(argv[1])
    command = argv[3:] if argv[2:3] == ["--"] else [sys.executable, "-m", "slipway.training.runner", root]
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = subprocess.Popen(command, cwd=root, preexec_fn=_default_signals)
    while True:
        try:
            return child.wait(WATCH_EVERY)
        except subprocess.TimeoutExpired:
            pass
        if not _alive(parent):
            print("[slipway] The Ray worker that ran this job is gone: stopping the job.", flush=True)
            shutil.rmtree(root, ignore_errors=True)  # nobody will collect or release it any more
            os.killpg(0, signal.SIGKILL)
            time.sleep(1)
            return 137


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    if code < 0:  # the runner was killed: so is the guard, for the executor to see the same signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)
