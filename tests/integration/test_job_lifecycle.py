"""Job lifecycle: max runtime, stop, memory limit, concurrency, and recovery after a server restart."""

from __future__ import annotations

import os
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from slipway.client import Client
from slipway.errors import Conflict, JobFailed
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

SLEEPER = """
    import os, signal, sys, time
    print("started", flush=True)
    time.sleep(float(os.environ.get("SM_HP_SECONDS", "60")))
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("done")
    print("finished", flush=True)
"""


def sleeper(tmp_path: Path, body: str = SLEEPER) -> Path:
    src = tmp_path / "sleeper"
    src.mkdir(exist_ok=True)
    (src / "train.py").write_text(textwrap.dedent(body))
    return src


def started(c: Client, name: str) -> Callable[[], bool]:
    return lambda: c.jobs.get(name).secondary_status == "Training" and "started" in "".join(c.jobs.logs(name))


def test_max_runtime_and_stop_end_as_stopped(client: Client, tmp_path: Path) -> None:
    src = sleeper(tmp_path)
    timed = client.jobs.create("too-slow", script="train.py", source_dir=src, max_runtime=1)
    timed.wait(timeout=60)
    assert (timed.status, timed.secondary_status) == ("Stopped", "MaxRuntimeExceeded")
    assert "MaxRuntimeExceeded" in [t.status for t in timed.transitions]
    assert "started" in "".join(timed.logs()) and "finished" not in "".join(timed.logs())

    job = client.jobs.create("stop-me", script="train.py", source_dir=src)
    wait_for(started(client, "stop-me"), what="the job to run")
    assert client.jobs.stop("stop-me").status == "Stopping"
    job.wait(timeout=60)
    assert (job.status, job.secondary_status, job.failure_reason) == ("Stopped", "Stopped", None)
    assert "started" in "".join(job.logs())
    with pytest.raises(Conflict, match="nothing to stop"):
        client.jobs.create("quick", script="train.py", source_dir=src, hyperparameters={"seconds": 0}).wait(60).stop()


def test_memory_limit_and_a_vanished_runner_fail_the_job_and_say_why(sqlite_server: SlipwayServer,
                                                                       tmp_path: Path) -> None:
    src = sleeper(tmp_path, """
        blocks = []
        for _ in range(64):
            blocks.append(bytearray(64 * 1024 * 1024))
    """)
    # The whole process group killed (as the kernel's OOM killer or a stray kill would): the runner never
    # writes a result, and the server says how the process ended and what it printed last.
    (tmp_path / "v").mkdir()
    vanishing = sleeper(tmp_path / "v", """
        import os, signal
        print("last words before the kill", flush=True)
        os.killpg(0, signal.SIGKILL)
    """)
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        job = c.jobs.create("greedy", script="train.py", source_dir=src, memory_limit_mb=256)
        gone = c.jobs.create("vanished", script="train.py", source_dir=vanishing)
        with pytest.raises(JobFailed, match="exceeded its memory limit of 256 MB"):
            job.wait(timeout=60)
        assert "MemoryError" in job.failure_reason
        with pytest.raises(JobFailed, match="ended without reporting a result"):
            gone.wait(timeout=60)
        assert "killed by signal SIGKILL" in gone.failure_reason, gone.failure_reason
        assert gone.failure_reason.endswith("Its last lines:\nlast words before the kill")


def test_queued_jobs_wait_for_a_free_slot(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_JOB_CONCURRENCY": "1"}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            src = sleeper(tmp_path)
            first = c.jobs.create("first", script="train.py", source_dir=src, hyperparameters={"seconds": 60})
            second = c.jobs.create("second", script="train.py", source_dir=src, hyperparameters={"seconds": 0})
            wait_for(started(c, "first"), what="the first job to run")
            assert second.refresh().status == "Pending"
            c.jobs.stop("first")
            second.wait(timeout=60)
            assert first.refresh().status == "Stopped" and second.status == "Completed"
            # A Pending job that is stopped never starts.
            c.jobs.create("blocker", script="train.py", source_dir=src, hyperparameters={"seconds": 60})
            queued = c.jobs.create("queued", script="train.py", source_dir=src)
            assert c.jobs.stop("queued").status == "Stopped"
            c.jobs.stop("blocker").wait(timeout=60)
            assert queued.refresh().started_at is None
    finally:
        srv.stop()


def _runner_pid(home: Path, job: str) -> int:
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "slipway.training.runner" in cmd and cmd[-1] == str(home / "jobs" / job):
            return int(p.pid)
    raise AssertionError(f"no runner process for {job}")


def test_restart_fails_lost_jobs_and_follows_live_ones(tmp_path: Path) -> None:
    home = tmp_path / "home"
    srv = SlipwayServer(home).start()
    src = sleeper(tmp_path)
    with Client(url=srv.url, home=srv.home) as c:
        c.jobs.create("lost", script="train.py", source_dir=src, hyperparameters={"seconds": 60})
        c.jobs.create("survivor", script="train.py", source_dir=src, hyperparameters={"seconds": 4})
        wait_for(lambda: started(c, "lost")() and started(c, "survivor")(), what="both jobs to run")
    srv.kill()
    os.killpg(_runner_pid(home, "lost"), signal.SIGKILL)
    srv = SlipwayServer(home).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            lost = c.jobs.get("lost")
            assert lost.status == "Failed"
            assert "server restarted" in lost.failure_reason and "gone" in lost.failure_reason
            assert "started" in "".join(lost.logs())
            survivor = c.jobs.get("survivor").wait(timeout=60)
            assert survivor.status == "Completed" and survivor.model_available
            assert "finished" in "".join(survivor.logs())
    finally:
        srv.stop()
