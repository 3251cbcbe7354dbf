"""A warm process has threads before it knows its job; the job it runs must carry the box in every thread."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slipway.sandbox import isolation

pytestmark = pytest.mark.skipif(not isolation().isolated, reason="this kernel has no Landlock")

SPARE = r"""
import json, os, signal, sys, threading
from pathlib import Path
from slipway.compute.warm import _preload, in_confined_child
from slipway.sandbox import Sandbox

home, job, mode = sys.argv[1:4]
_preload()  # pandas, scikit-learn: numpy's BLAS pool is running now

def threads():
    return int(next(ln for ln in open("/proc/self/status") if ln.startswith("Threads")).split()[1])

def read_credentials():
    try:
        return open(os.path.join(home, "credentials")).read()
    except OSError as exc:
        return type(exc).__name__

def job_code():
    import numpy
    numpy.dot(numpy.ones((400, 400)), numpy.ones((400, 400)))  # BLAS threads of the job itself
    seen = {"main": read_credentials()}
    t = threading.Thread(target=lambda: seen.update(thread=read_credentials()))
    t.start()
    t.join()
    tasks = os.listdir("/proc/self/task")
    seen["tasks"] = len(tasks)
    seen["no_new_privs"] = sorted({next(ln for ln in open(f"/proc/self/task/{t}/status")
                                        if ln.startswith("NoNewPrivs")).split()[1] for t in tasks})
    with open(os.path.join(job, "seen.json"), "w") as f:
        json.dump(seen, f)
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return 7

before = threads()
code = in_confined_child(Sandbox(home=Path(home)).policy(write=[job]), job_code)
print(json.dumps({"spare_threads": before, "code": code, "spare_reads": read_credentials()}))
"""


def run_spare(tmp_path: Path, mode: str) -> tuple[dict[str, object], dict[str, object]]:
    home, job = tmp_path / "home", tmp_path / "home" / "jobs" / "j"
    job.mkdir(parents=True)
    (home / "credentials").write_text("the admin key")
    out = subprocess.run([sys.executable, "-c", SPARE, str(home), str(job), mode], capture_output=True, text=True,
                         timeout=120, check=True)
    return json.loads(out.stdout), json.loads((job / "seen.json").read_text())


def test_every_thread_of_a_job_in_a_warm_spare_is_confined(tmp_path: Path) -> None:
    spare, seen = run_spare(tmp_path, "exit")
    assert spare["spare_threads"] > 1  # the reason a spare may not confine itself
    assert seen["main"] == seen["thread"] == "PermissionError"
    assert seen["no_new_privs"] == ["1"]  # set by the confinement, in every thread of the job
    assert spare["code"] == 7  # the child's exit status is the spare's
    assert spare["spare_reads"] == "the admin key"  # the spare itself runs no user code


def test_a_killed_job_reports_the_signal(tmp_path: Path) -> None:
    spare, seen = run_spare(tmp_path, "kill")
    assert seen["main"] == "PermissionError"
    assert spare["code"] == -9
