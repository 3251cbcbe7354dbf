"""A pre-warmed job process: pandas and scikit-learn already imported, waiting for one built-in job.

The local executor keeps one spare started; a built-in job is handed to it (its folder and log
on stdin) instead of paying those imports after submit. It then behaves as a cold runner: its
own process group, the job's log as stdout and stderr, the memory limit set before training.
A spare whose server goes away sees stdin close and exits.

Confinement: the imports start threads (numpy's BLAS pool), and Landlock confines only the thread
that asks, so the spare never confines itself. With a policy it forks a child — a fork has one
thread — that confines itself and runs the job; every thread the job starts inherits the box.
The spare waits, ignoring SIGTERM (the job's process group gets it, the child handles it), and
ends with the child's status, so stop, kill and exit codes work as for a cold job.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["in_confined_child", "main"]


def _preload() -> None:
    import joblib  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.compose  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.impute  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import sklearn.preprocessing  # noqa: F401

    import slipway.algorithms  # noqa: F401
    import slipway.training.builtin  # noqa: F401
    import slipway.training.evaluation  # noqa: F401


def in_confined_child(policy: dict[str, Any], fn: Callable[[], int]) -> int:
    """Run ``fn`` in a forked child confined by ``policy``; return the child's exit status (-N: signal N)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            from slipway.sandbox import landlock

            try:
                landlock.confine(policy["read"], policy["write"])
            except OSError as exc:
                print(f"[slipway] Sandbox: cannot confine the job, so it did not run: {exc}", flush=True)
                code = 126
            else:
                code = fn()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # the child must never return into the spare's code
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def main() -> int:
    _preload()
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    request = json.loads(line)
    fd = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.chdir(request["job_dir"])
    from slipway.training.runner import main as runner_main

    def run() -> int:
        return runner_main([request["job_dir"]], in_process=True)

    if request.get("policy") is None:
        return run()
    return in_confined_child(request["policy"], run)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    if code < 0:  # the confined child was killed: so is the spare, for the executor to see the same signal
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    # Tearing down pandas, scikit-learn and a fitted model takes a noticeable while; the job is done.
    os._exit(code)
