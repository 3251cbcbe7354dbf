"""A pre-warmed job process: pandas and scikit-learn already imported, waiting for one built-in job.

The local executor keeps one spare started; a built-in job is handed to it (its folder and log
on stdin) instead of paying those imports after submit. It then behaves as a cold runner: its
own process group, the job's log as stdout and stderr, the memory limit set before training.
A spare whose server goes away sees stdin close and exits.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["main"]


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

    return runner_main([request["job_dir"]], in_process=True)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Tearing down pandas, scikit-learn and a fitted model takes a noticeable while; the job is done.
    os._exit(code)
