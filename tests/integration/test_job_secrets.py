"""Job secrets through a real server and real job processes: the value reaches the job's environment,
never its log, its failure reason or an error message (REST, SDK, CLI; training and tuning jobs)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.client import Client
from slipway.errors import Forbidden, InvalidArgument, JobFailed, NotFound
from tests.support.servers import SlipwayServer

VALUE = "hunter2-Sup3r-s3cret-VALUE"
PASSWORD = "pa55-other-Value"

# Prints the value whole, split over two writes, on stderr, and its digest (proof the job saw it exactly).
SCRIPT = """
    import hashlib, os, sys
    v = os.environ["db_password"]
    print("sha", hashlib.sha256(v.encode()).hexdigest(), "other", os.environ["API_TOKEN"] == {password!r})
    print("raw", v, flush=True)
    sys.stdout.write("split " + v[:7]); sys.stdout.flush()
    sys.stdout.write(v[7:] + " end\\n"); sys.stdout.flush()
    sys.stderr.write("err " + v + "\\n")
    if os.environ.get("SM_HP_FAIL"):
        raise RuntimeError("could not log in with " + v)
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
        f.write("ok")
    print("validation:score: 0.5")
"""


@pytest.fixture
def srv(tmp_path: Path) -> Iterator[SlipwayServer]:
    s = SlipwayServer(tmp_path / "home").start()
    yield s
    s.stop()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.py").write_text(textwrap.dedent(SCRIPT.format(password=PASSWORD)))
    return folder


def _check_log(log: str) -> None:
    assert VALUE not in log and PASSWORD not in log
    assert f"sha {hashlib.sha256(VALUE.encode()).hexdigest()} other True" in log
    assert "raw ***" in log and "split *** end" in log and "err ***" in log


def test_a_job_sees_its_secrets_and_its_log_shows_them_redacted(srv: SlipwayServer, src: Path) -> None:
    with Client(url=srv.url, home=srv.home) as c:
        c.secrets.set("db-password", VALUE)
        c.secrets.set("API_TOKEN", PASSWORD)
        job = c.jobs.create("sees", script="train.py", source_dir=src, secrets=["db-password", "API_TOKEN"])
        job.wait(timeout=180)
        assert job.status == "Completed", job.failure_reason
        assert job.view.secrets == ["db-password", "API_TOKEN"]
        _check_log("".join(job.logs()))

        # A failure that quotes the value: redacted in the failure reason and the log.
        failing = c.jobs.create("fails", script="train.py", source_dir=src, hyperparameters={"fail": 1},
                                secrets=["db-password", "API_TOKEN"])
        with pytest.raises(JobFailed) as info:
            failing.wait(timeout=180)
        assert "could not log in with ***" in failing.failure_reason
        assert VALUE not in failing.failure_reason and VALUE not in str(info.value)
        _check_log("".join(failing.logs()))
    with srv.http() as http:
        for path in ("/api/v1/jobs/sees", "/api/v1/jobs/fails", "/api/v1/jobs", "/api/v1/audit?limit=1000"):
            assert VALUE not in http.get(path).text

    # The same through REST (what the CLI and SDK send) and the CLI.
    with srv.http() as http:
        r = http.post("/api/v1/jobs/rest-job", json={"entry_point": "train.py", "source_sha256": job.view.source_sha256,
                                                     "secrets": ["db-password", "API_TOKEN"]})
        assert r.status_code == 201, r.text
        assert r.json()["secrets"] == ["db-password", "API_TOKEN"]
    with Client(url=srv.url, home=srv.home) as c:
        rest = c.jobs.get("rest-job").wait(timeout=180)
        assert rest.status == "Completed", rest.failure_reason
        _check_log("".join(rest.logs()))
    r = subprocess.run(
        [sys.executable, "-m", "slipway.cli.main", "train", "--script", "train.py", "--source-dir", str(src),
         "--secret", "db-password", "--secret", "API_TOKEN", "--name", "cli-job", "--wait", "--output", "json"],
        capture_output=True, text=True, env=srv.cli_env(), timeout=240)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["secrets"] == ["db-password", "API_TOKEN"]
    with Client(url=srv.url, home=srv.home) as c:
        _check_log("".join(c.jobs.get("cli-job").logs()))


def test_tuning_trials_get_the_secrets_too(srv: SlipwayServer, src: Path) -> None:
    with Client(url=srv.url, home=srv.home) as c:
        c.secrets.set("db-password", VALUE)
        c.secrets.set("API_TOKEN", PASSWORD)
        template = c.jobs.build_request("tuned", script="train.py", source_dir=src,
                                        metric_definitions={"validation:score": r"validation:score: ([0-9.]+)"},
                                        secrets=["db-password", "API_TOKEN"])
        tuning = c.tuning.create("tuned", job=template, objective="validation:score", ranges=["x=1:2"],
                                 strategy="random", max_trials=1)
        view = tuning.wait(timeout=240).view
        [trial] = view.trials
        assert trial.status == "Completed", view
        trial_job = c.jobs.get(trial.job)
        assert trial_job.view.secrets == ["db-password", "API_TOKEN"]
        _check_log("".join(trial_job.logs()))


def test_secrets_for_jobs_are_checked_and_need_secrets_use(srv: SlipwayServer, src: Path) -> None:
    with Client(url=srv.url, home=srv.home) as c:
        c.secrets.set("db-password", VALUE)
        c.secrets.set("9lives", VALUE)
        with pytest.raises(NotFound, match="Secret\\(s\\) not found: nope"):
            c.jobs.create("missing", script="train.py", source_dir=src, secrets=["nope"])
        with pytest.raises(InvalidArgument, match="environment variable '9lives'"):
            c.jobs.create("digit", script="train.py", source_dir=src, secrets=["9lives"])
        with pytest.raises(NotFound, match="nope"):
            template = c.jobs.build_request("t", script="train.py", source_dir=src, secrets=["nope"])
            c.tuning.create("t", job=template, objective="validation:score", ranges=["x=1:2"], max_trials=1)
        # A role that may run jobs but not use that secret: refused before anything is created.
        c.roles.create("runner", {"Statement": [
            {"Effect": "Allow", "Action": ["jobs:*", "tuning:*", "secrets:Use"], "Resource": ["*"]},
            {"Effect": "Deny", "Action": ["secrets:Use"], "Resource": ["secret/db-*"]}]})
        c.users.create("rhea", "runner")
        key = c.keys.create(user="rhea").key
        c.users.create("vera", "viewer")
        viewer = c.keys.create(user="vera").key
    with Client(url=srv.url, api_key=key) as rhea:
        with pytest.raises(Forbidden, match="may not secrets:Use on secret/db-password"):
            rhea.jobs.create("sneaky", script="train.py", source_dir=src, secrets=["db-password"])
        template = rhea.jobs.build_request("t2", script="train.py", source_dir=src, secrets=["db-password"])
        with pytest.raises(Forbidden, match="secrets:Use on secret/db-password"):
            rhea.tuning.create("t2", job=template, objective="validation:score", ranges=["x=1:2"], max_trials=1)
    with srv.http(api_key=viewer) as http:
        r = http.post("/api/v1/jobs/v", json={"algorithm": "kmeans", "secrets": ["db-password"]})
        assert r.status_code == 403
    with Client(url=srv.url, home=srv.home) as c:
        with pytest.raises(NotFound):
            c.jobs.get("sneaky")


def test_a_400_never_repeats_a_secret_value(srv: SlipwayServer) -> None:
    bad_bodies = [
        ({"value": 98765432123456789}, "98765432123456789"),
        ({"value": "Z" * 65537}, "Z" * 100),
        ({"value": ["in-a-list-s3cret"]}, "in-a-list-s3cret"),
        ("just-the-s3cret-as-body", "just-the-s3cret-as-body"),
    ]
    with srv.http() as http:
        for body, value in bad_bodies:
            r = http.put("/api/v1/secrets/DB_PASSWORD", json=body)
            assert r.status_code == 400, r.text
            assert value not in r.text, r.text
            assert "'value'" in r.text or "'body'" in r.text  # it still names the field
        # Other fields still show what was wrong.
        r = http.get("/api/v1/datasets", params={"limit": "many"})
        assert r.status_code == 400 and "'many'" in r.json()["error"]["message"]
