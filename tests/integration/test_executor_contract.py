"""The executor contract, which every executor passes: local processes and a real local Ray cluster.

Each test prepares a job folder as the server does (job.json, code/) and drives the executor as the
jobs controller does: submit, sync while it runs, poll, terminate or kill, collect, release. The
job is a real script run by the real runner; nothing of ours is mocked.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.compute import Executor, Resources, open_executor
from slipway.compute.local import LocalExecutor
from slipway.errors import InvalidArgument, Unavailable
from slipway.sandbox import Sandbox, isolation
from slipway.training.contract import JobPaths
from tests.support.raycluster import _free_port
from tests.support.waiting import pid_alive, wait_for

pytestmark = pytest.mark.xdist_group("ray")

SECRET = "contract-secret-value-5150"
PLATFORM_SECRET = "the-platforms-master-key-8080"
VICTIM_SECRET = "another-jobs-weights-6060"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    """The server's sandbox: its home holds the platform's secrets (on Ray, the node is this machine too)."""
    home = tmp_path_factory.mktemp("platform-home")
    (home / "master.key").write_text(PLATFORM_SECRET)
    return Sandbox(home=home)


def _reopen(executor: Executor, sandbox: Sandbox) -> Executor:
    """A second executor object of the same kind, as a restarted server opens it."""
    if isinstance(executor, LocalExecutor):
        return LocalExecutor(warm_pool=False, sandbox=sandbox)
    return open_executor(executor.url, sandbox=sandbox)


@pytest.fixture(scope="module", params=["local", "ray"])
def executor(request: pytest.FixtureRequest, sandbox: Sandbox) -> Iterator[Executor]:
    if request.param == "local":
        ex: Executor = LocalExecutor(warm_pool=False, sandbox=sandbox)
        yield ex
        ex.close()
        return
    cluster = request.getfixturevalue("ray_cluster")
    import ray

    ours = not ray.is_initialized()
    ex = open_executor(cluster.address, sandbox=sandbox)
    yield ex
    ex.close()
    if ours:
        ray.shutdown()


def _job(root: Path, script: str, secrets: list[str] = ()) -> JobPaths:  # type: ignore[assignment]
    paths = JobPaths(root)
    paths.make()
    (paths.code / "train.py").write_text(textwrap.dedent(script))
    spec = {"name": root.name, "kind": "script", "framework": "custom", "entry_point": "train.py",
            "hyperparameters": {}, "channels": {}, "outputs": {}, "arguments": [], "memory_limit_mb": None,
            "env_cache_dir": str(root.parent / "envs"), "secrets": list(secrets), "num_cpus": 1}
    paths.job_file.write_text(json.dumps(spec))
    return paths


def _run(executor: Executor, paths: JobPaths, env: dict[str, str] | None = None,
         resources: Resources | None = None) -> str:
    return executor.submit(paths.root, paths.logs, env=env, name=paths.root.name, resources=resources)


def _log(paths: JobPaths) -> str:
    return paths.logs.read_text(errors="replace") if paths.logs.exists() else ""


def _until_ended(executor: Executor, handle: str, paths: JobPaths) -> None:
    def ended() -> bool:
        executor.sync(handle, paths.root, paths.logs)
        return not executor.poll(handle).running

    wait_for(ended, timeout=120, what="the job to end", interval=0.2)


def _result(paths: JobPaths) -> dict[str, object]:
    data: dict[str, object] = json.loads(paths.result.read_text())
    return data


def _remote_folder(paths: JobPaths) -> Path | None:
    """Where a Ray job ran (the executor's first log line names it); None for a job run in place."""
    m = re.search(r"folder (\S+?),", _log(paths))
    return Path(m.group(1)) if m else None


def test_completes_collects_outputs_and_keeps_secrets_off_disk(executor: Executor, tmp_path: Path) -> None:
    paths = _job(tmp_path / "ok-job", """
        import hashlib, json, os, time
        print("hello from the job", flush=True)
        with open(os.environ["SLIPWAY_METRICS_FILE"], "a") as f:
            f.write(json.dumps({"name": "loss", "value": 0.25, "step": 1, "timestamp": time.time()}) + "\\n")
        seen = hashlib.sha256(os.environ.get("CONTRACT_SECRET", "").encode()).hexdigest()
        print("secret there" if seen == "DIGEST" else "secret missing", flush=True)
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
            f.write("weights")
        with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "report.txt"), "w") as f:
            f.write("report")
    """.replace("DIGEST", hashlib.sha256(SECRET.encode()).hexdigest()))
    handle = _run(executor, paths, env={"CONTRACT_SECRET": SECRET})
    _until_ended(executor, handle, paths)
    state = executor.poll(handle)
    assert not state.running and state.exit_code in (0, None) and state.reason is None
    executor.collect(handle, paths.root, paths.logs)
    assert _result(paths)["status"] == "Completed", _log(paths)
    assert "hello from the job" in _log(paths) and "secret there" in _log(paths)
    assert (paths.model / "model.txt").read_text() == "weights"
    assert (paths.output_data / "report.txt").read_text() == "report"
    assert json.loads(paths.metrics.read_text().splitlines()[0])["value"] == 0.25
    remote = _remote_folder(paths)
    for folder in [paths.root, *([remote] if remote else [])]:
        for f in folder.rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f
    executor.release(handle)
    assert remote is None or not remote.exists()


def test_failing_script_reports_its_exit_code(executor: Executor, tmp_path: Path) -> None:
    paths = _job(tmp_path / "bad-job", "import sys\nprint('about to fail', flush=True)\nsys.exit(3)\n")
    handle = _run(executor, paths)
    _until_ended(executor, handle, paths)
    executor.collect(handle, paths.root, paths.logs)
    result = _result(paths)
    assert result["status"] == "Failed" and result["exit_code"] == 3
    assert "about to fail" in _log(paths)
    executor.release(handle)


def test_logs_stream_while_running_and_a_reopened_executor_stops_the_job(executor: Executor, sandbox: Sandbox,
                                                                         tmp_path: Path) -> None:
    paths = _job(tmp_path / "long-job", """
        import time
        print("tick 1", flush=True)
        time.sleep(600)
    """)
    handle = _run(executor, paths)

    def ticked() -> bool:
        executor.sync(handle, paths.root, paths.logs)
        return "tick 1" in _log(paths)

    wait_for(ticked, timeout=120, what="the first log line while the job runs", interval=0.2)
    # A server that restarted opens a new executor and finds the job by its handle alone.
    again = _reopen(executor, sandbox)
    assert again.poll(handle).running
    again.terminate(handle)
    _until_ended(again, handle, paths)
    again.collect(handle, paths.root, paths.logs)
    assert _result(paths)["status"] == "Stopped"
    again.release(handle)


ATTACK = """
import os

def attempt(what, fn):
    try:
        got = fn()
    except OSError as exc:
        print("DENIED", what, type(exc).__name__, flush=True)
    else:
        print("GOT", what, repr(got)[:80], flush=True)

def plant(folder):
    with open(os.path.join(folder, "planted.txt"), "w") as f:
        f.write("x")

own = os.path.dirname(os.environ["SM_MODEL_DIR"])
victim = os.environ["VICTIM_DIR"]
attempt("platform key", lambda: open(os.path.join(os.environ["PLATFORM_HOME"], "master.key")).read())
attempt("platform home", lambda: os.listdir(os.environ["PLATFORM_HOME"]))
attempt("other job", lambda: open(os.path.join(victim, "model", "secret.txt")).read())
attempt("jobs folder", lambda: os.listdir(os.path.dirname(own)))
if os.environ.get("RAY_TEMP"):
    attempt("ray session", lambda: os.listdir(os.environ["RAY_TEMP"]))
attempt("write platform home", lambda: plant(os.environ["PLATFORM_HOME"]))
attempt("write other job", lambda: plant(victim))
attempt("write beside", lambda: plant(os.path.dirname(own)))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("still trains")
"""


def _attack(executor: Executor, sandbox: Sandbox, victim_dir: Path, tmp_path: Path,
            request: pytest.FixtureRequest) -> None:
    """The sandbox of issue #12 wherever the job runs: a job next to ``victim_dir`` (a running job's folder)
    reads and writes nothing outside its own folder; on Ray the runner and script are confined on the node."""
    env = {"PLATFORM_HOME": str(sandbox.home), "VICTIM_DIR": str(victim_dir)}
    if not isinstance(executor, LocalExecutor):
        env["RAY_TEMP"] = str(request.getfixturevalue("ray_cluster").root)
    paths = _job(tmp_path / "attacker-job", ATTACK)
    handle = _run(executor, paths, env=env)
    _until_ended(executor, handle, paths)
    executor.collect(handle, paths.root, paths.logs)
    log = _log(paths)
    assert _result(paths)["status"] == "Completed", log
    assert (paths.model / "model.txt").read_text() == "still trains"
    assert "GOT" not in log and PLATFORM_SECRET not in log and VICTIM_SECRET not in log, log
    expected = ["platform key", "platform home", "other job", "jobs folder", "write platform home",
                "write other job", "write beside", *(["ray session"] if "RAY_TEMP" in env else [])]
    for what in expected:
        assert f"DENIED {what} PermissionError" in log, (what, log)
    assert not (sandbox.home / "planted.txt").exists() and not (victim_dir / "planted.txt").exists()
    if not isinstance(executor, LocalExecutor):  # the node says which box, as a local job's server does
        assert re.search(r"Sandbox: landlock ABI \d+ on Ray node \w+; this job reads its own folder", log), log
    executor.release(handle)


def test_kill_ends_a_job_that_ignores_sigterm_and_no_other_job_reaches_it(
        executor: Executor, sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    paths = _job(tmp_path / "stubborn-job", """
        import os, signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(os.path.join(os.environ["SM_MODEL_DIR"], "secret.txt"), "w") as f:
            f.write("VICTIM_SECRET")
        print("ignoring SIGTERM", flush=True)
        time.sleep(600)
    """.replace("VICTIM_SECRET", VICTIM_SECRET))
    handle = _run(executor, paths)

    def started() -> bool:
        executor.sync(handle, paths.root, paths.logs)
        return "ignoring SIGTERM" in _log(paths)

    wait_for(started, timeout=120, what="the job to start", interval=0.2)
    if isolation().isolated:  # while it runs, a hostile job next to it (sharing its start saves a job)
        _attack(executor, sandbox, _remote_folder(paths) or paths.root, tmp_path, request)
    executor.terminate(handle)
    assert executor.poll(handle).running  # the script ignores it; the runner waits for the script
    executor.kill(handle)
    _until_ended(executor, handle, paths)
    assert executor.poll(handle).exit_code in (-signal.SIGKILL, None)
    executor.release(handle)


def test_a_job_waiting_for_resources_can_be_stopped(executor: Executor, tmp_path: Path) -> None:
    """More CPUs than the cluster has: Ray keeps it waiting (local runs it regardless); stop ends it either way."""
    paths = _job(tmp_path / "big-job", "import time\ntime.sleep(600)\n")
    handle = _run(executor, paths, resources=Resources(cpus=64))
    assert executor.poll(handle).running
    executor.terminate(handle)
    executor.kill(handle)
    _until_ended(executor, handle, paths)
    executor.collect(handle, paths.root, paths.logs)
    executor.release(handle)


def test_a_ray_worker_dying_fails_the_job_with_that_reason(executor: Executor, tmp_path: Path) -> None:
    if isinstance(executor, LocalExecutor):
        pytest.skip("a local job has no worker between the server and its process")
    paths = _job(tmp_path / "orphan-job", """
        import os, time
        print("script pid", os.getpid(), flush=True)
        time.sleep(600)
    """)
    handle = _run(executor, paths)

    def started() -> bool:
        executor.sync(handle, paths.root, paths.logs)
        return "script pid" in _log(paths)

    wait_for(started, timeout=120, what="the job to start", interval=0.2)
    worker = int(re.search(r"worker pid (\d+)", _log(paths)).group(1))  # type: ignore[union-attr]
    script = int(re.search(r"script pid (\d+)", _log(paths)).group(1))  # type: ignore[union-attr]
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not executor.poll(handle).running, timeout=60, what="Ray to notice the dead worker")
    state = executor.poll(handle)
    assert state.reason and "Ray worker running the job died" in state.reason
    wait_for(lambda: not pid_alive(script), timeout=30, what="the orphaned script to be stopped by its guard")
    remote = _remote_folder(paths)
    assert remote is not None
    wait_for(lambda: not remote.exists(), timeout=30, what="the guard to remove the job's folder on the node")
    executor.release(handle)


def test_unreachable_ray_names_the_url_and_what_to_check() -> None:
    address = f"127.0.0.1:{_free_port()}"
    with pytest.raises(Unavailable) as err:
        open_executor(address)
    assert address in err.value.message and "ray start --head" in err.value.message
    with pytest.raises(Unavailable) as err:
        open_executor(f"ray://{address}")
    assert "Ray Client port" in err.value.message


def test_version_mismatch_and_unknown_compute_url_are_clear() -> None:
    from slipway.compute.ray_executor import check_versions

    here = {"python": f"{sys.version_info[0]}.{sys.version_info[1]}", "ray": "2.60.0", "slipway": "0.1.0"}
    check_versions("h:1", here, dict(here))
    with pytest.raises(InvalidArgument) as err:
        check_versions("h:1", here, {**here, "python": "3.9", "ray": "2.9.0"})
    assert "python" in err.value.message and "3.9" in err.value.message and "ray 2.60.0 here, 2.9.0" in err.value.message
    with pytest.raises(InvalidArgument) as err:
        open_executor("kubernetes://cluster")
    assert "'kubernetes://cluster'" in err.value.message and "ray://host:port" in err.value.message


def test_local_stop_signals_never_reach_a_process_that_reused_the_pid(tmp_path: Path) -> None:
    """A handle whose process has ended names a pid (and process group) the kernel may give to another process:
    stop and kill must leave that process alone, and an ended job keeps its exit code until it is released."""
    import subprocess

    executor = LocalExecutor(warm_pool=False)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        executor.kill(f"local:{stranger.pid}:1")  # the same pid, started at another time: not the job
        executor.terminate(f"local:{stranger.pid}:1")
        with pytest.raises(subprocess.TimeoutExpired):
            stranger.wait(timeout=1)  # still alive
        paths = _job(tmp_path / "quick-job", "import sys\nsys.exit(5)\n")
        handle = _run(executor, paths)
        wait_for(lambda: not executor.poll(handle).running, timeout=60, what="the job to end")
        # The runner reported the script's code and exited 0; a second look (finishing the job) sees it too.
        assert executor.poll(handle).exit_code == 0 and executor.poll(handle).exit_code == 0
        assert _result(paths)["exit_code"] == 5
        executor.kill(handle)
        executor.release(handle)
    finally:
        stranger.kill()
        stranger.wait()
