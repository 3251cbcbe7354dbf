"""Several servers on one Postgres database and one S3 store: one leader per controller, failover.

Two real `slipway up` processes share a fresh database on the session's Postgres server, a bucket
on the session's S3-compatible server, the master key and the jobs folder (as two servers on one
machine would); the leader is killed with SIGKILL while a job runs.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from slipway.client import Client
from tests.conftest import fresh_pg_database
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.postgres

SINGLETONS = {"jobs", "endpoints", "tuning"}  # the per-server ones (tmp-cleaner, audit-counts) run everywhere
SLEEPER = """
    import os, time
    print("started", flush=True)
    time.sleep(float(os.environ.get("SM_HP_SECONDS", "60")))
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("done")
    print("finished", flush=True)
"""


def _status(srv: SlipwayServer, key: str) -> dict[str, object]:
    r = httpx.get(f"{srv.url}/api/v1/status", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    r.raise_for_status()
    data: dict[str, object] = r.json()
    return data


def _leads(srv: SlipwayServer, key: str) -> set[str]:
    return set(_status(srv, key)["leading"]) & SINGLETONS  # type: ignore[call-overload]


def _invoke(srv: SlipwayServer, key: str, endpoint: str) -> int:
    r = httpx.post(f"{srv.url}/endpoints/{endpoint}/invocations", json={"instances": first_rows(1)},
                   headers={"Authorization": f"Bearer {key}"}, timeout=30)
    return r.status_code


def test_one_leader_per_controller_and_failover_after_kill_9(
        tmp_path: Path, postgres: str, s3_server: S3Server, s3_bucket: str) -> None:
    db = fresh_pg_database(postgres)
    env = {"SLIPWAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
           "SLIPWAY_ARTIFACT_URL": f"s3://{s3_bucket}/slipway", "SLIPWAY_S3_ENDPOINT_URL": s3_server.url,
           "SLIPWAY_S3_REGION": "us-east-1", "SLIPWAY_S3_ACCESS_KEY_ID": ACCESS_KEY,
           "SLIPWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY, "SLIPWAY_JOBS_DIR": str(tmp_path / "jobs")}
    first = SlipwayServer(tmp_path / "a", database_url=db, env=env).start()
    second = SlipwayServer(tmp_path / "b", database_url=db, env=env).start()
    try:
        key = first.admin_key  # the first server made the admin; the database is shared, so is the key
        a, b = _leads(first, key), _leads(second, key)
        assert a | b == SINGLETONS and not a & b, f"leaders: first {a}, second {b}"
        leader, other = (first, second) if "jobs" in a else (second, first)
        assert "s3: s3://" in str(_status(other, key)["artifact_store"])

        src = tmp_path / "src"
        src.mkdir()
        (src / "train.py").write_text(textwrap.dedent(SLEEPER))
        # Any server takes the request; the leader's jobs controller runs it.
        with Client(url=other.url, api_key=key, home=first.home) as c:
            job = c.jobs.create("survivor", script="train.py", source_dir=src, hyperparameters={"seconds": 5})
            wait_for(lambda: c.jobs.get("survivor").secondary_status == "Training"
                     and "started" in "".join(c.jobs.logs("survivor")), what="the job to run")
            # Every server answers invocations: the others route from the replicas table.
            c.models.import_(write_cancer_artifact(tmp_path / "model"), "cancer")
            assert c.endpoints.deploy("cancer-ep", "cancer:1").status == "InService"
            for srv in (leader, other):
                wait_for(lambda srv=srv: _invoke(srv, key, "cancer-ep") == 200, timeout=10,
                         what=f"{srv.url} to route the endpoint")
            leader.kill()
            killed_at = time.monotonic()
            wait_for(lambda: _leads(other, key) == SINGLETONS, timeout=10, what="the other server to take over")
            print(f"failover took {time.monotonic() - killed_at:.2f} s")
            job = c.jobs.get("survivor").wait(timeout=60)
            assert job.status == "Completed" and job.model_available, job.failure_reason
            logs = "".join(job.logs())
            assert logs.count("started") == 1 and logs.count("finished") == 1, logs
            assert [t.status for t in job.transitions].count("Training") == 1
            # The queue still works after the failover: a new job runs on the new leader.
            again = c.jobs.create("after", script="train.py", source_dir=src, hyperparameters={"seconds": 0})
            assert again.wait(timeout=60).status == "Completed"
            wait_for(lambda: _invoke(other, key, "cancer-ep") == 200, timeout=60,
                     what="the new leader to serve the endpoint")
    finally:
        for srv in (first, second):
            srv.stop()


def test_unreachable_postgres_names_url_without_password(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://slipway:hunter2@127.0.0.1:{port}/meta"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    done = subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(tmp_path / "h"), "up", "--port", "0",
                           "--database-url", url], capture_output=True, text=True, env=env, timeout=120)
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert f"Error: Cannot connect to the database at postgresql+psycopg://slipway:***@127.0.0.1:{port}/meta" in out
    assert "hunter2" not in out and "Traceback" not in out


def test_a_request_at_zero_replicas_on_a_server_that_does_not_lead_wakes_the_endpoint(
        tmp_path: Path, postgres: str, s3_server: S3Server, s3_bucket: str) -> None:
    """The other server keeps the route of an autoscaled endpoint at zero: it queues the request, reports it in the
    database, the leader's autoscaler starts a replica, and the request is answered (not refused)."""
    db = fresh_pg_database(postgres)
    env = {"SLIPWAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
           "SLIPWAY_ARTIFACT_URL": f"s3://{s3_bucket}/slipway", "SLIPWAY_S3_ENDPOINT_URL": s3_server.url,
           "SLIPWAY_S3_REGION": "us-east-1", "SLIPWAY_S3_ACCESS_KEY_ID": ACCESS_KEY,
           "SLIPWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY}
    first = SlipwayServer(tmp_path / "a", database_url=db, env=env).start()
    second = SlipwayServer(tmp_path / "b", database_url=db, env=env).start()
    try:
        key = first.admin_key
        other = second if "endpoints" in _leads(first, key) else first
        assert "endpoints" not in _leads(other, key)
        with Client(url=other.url, api_key=key, home=first.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "model"), "cancer")
            c.endpoints.deploy("zero-ep", "cancer:1", scaling={"min_replicas": 0, "max_replicas": 1,
                                                               "idle_to_zero": 1, "queue_timeout": 60})

            def replicas() -> int:
                scaling = c.endpoints.get("zero-ep").scaling
                assert scaling is not None
                return scaling.replicas

            wait_for(lambda: replicas() == 0, what="the endpoint at zero")
            time.sleep(1.5)  # the other server's routes follow the replicas table once a second
            assert _invoke(other, key, "zero-ep") == 200
            woke = [d for d in c.endpoints.get("zero-ep").scaling.decisions  # type: ignore[union-attr]
                    if d.reason.startswith("scale out 0 ->")]
            assert woke and woke[0].inputs["queued"] > 0, woke
    finally:
        for srv in (first, second):
            srv.stop()
