"""The README's five-minute tour, typed exactly as written, on what `make run` gives (a server started with --demo).

The commands are read out of README.md, so the README and this test cannot drift: each line of the tour's
code block runs in bash, in one working folder, with `slipway` and `python` on the PATH as `.venv/bin` puts
them; each `->` line under a command must appear in what it printed (whitespace aside, `…` standing for
anything). The Python snippet and the curl lines run as written too. The only change made to the text is
the server's address: the test server listens on a free port instead of 8080.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from slipway.client import Client
from tests.conftest import fresh_pg_database
from tests.support.models import first_rows
from tests.support.raycluster import RayCluster
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server
from tests.support.servers import REPO, SlipwayServer

README = REPO / "README.md"


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def code_blocks(markdown: str, after: str) -> Iterator[tuple[str, str]]:
    """(info string, body) of each fenced block in the section that starts with heading ``after``."""
    section = markdown.split(after, 1)[1].split("\n## ", 1)[0]
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", section, re.M | re.S):
        yield m.group(1), m.group(2)


def steps(block: str) -> list[Step]:
    """Commands (joined over trailing backslashes) and the `->` lines that follow each."""
    out: list[Step] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if line.strip().startswith("->"):
            out[-1].expected.append(line.strip()[2:].strip())
            continue
        command = line
        while command.rstrip().endswith("\\") and i < len(lines):
            command += "\n" + lines[i]
            i += 1
        out.append(Step(command))
    return out


def shows(expected: str, printed: str) -> bool:
    """``expected`` (with `…` for anything) appears in ``printed``, whitespace ignored."""
    squeeze = re.compile(r"\s+")
    pattern = ".*?".join(re.escape(squeeze.sub("", part)) for part in expected.split("…"))
    return re.search(pattern, squeeze.sub("", printed), re.S) is not None


def test_readme_parsing_finds_the_whole_tour() -> None:
    blocks = list(code_blocks(README.read_text(), "## A five-minute tour"))
    tour = steps(blocks[0][1])
    commands = [s.command.split()[0] for s in tour]
    assert commands.count("slipway") == 11 and commands.count("python") == 1 and commands.count("sed") == 1
    assert any("->" not in s.command and s.expected for s in tour)
    assert [info for info, _ in blocks] == ["", "python", ""]
    assert not shows("cancer:1 (…) created", "cancer:2 (1 rows) created")
    assert shows('{"label": "malignant", …}', '{\n  "label": "malignant",\n  "confidence": 1.0}')


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[SlipwayServer]:
    """`make run`: `slipway up --demo`, with the demo loaded before the tour starts (the worst case for a
    name clash: its datasets, model, endpoint, job and tuning job all exist)."""
    srv = SlipwayServer(tmp_path / "home", extra_args=["--demo"]).start()
    try:
        deadline = time.monotonic() + 120
        while not (srv.home / "demo-loaded").exists():
            assert time.monotonic() < deadline, srv.log()
            time.sleep(0.2)
        yield srv
    finally:
        srv.stop()


def type_tour(server: SlipwayServer, tmp_path: Path) -> Callable[..., str]:
    """Type the README tour against ``server`` (its home as the user's ~/.slipway); return the ``run`` it used."""
    work = tmp_path / "work"
    bin_dir = tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    # `slipway` as .venv/bin has it, but running this checkout's code under this interpreter.
    shim = bin_dir / "slipway"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m slipway.cli.main "$@"\n')
    shim.chmod(0o755)
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = server.cli_env()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    for name in ("SLIPWAY_HOME", "SLIPWAY_URL"):  # the README's user has one home, ~/.slipway: the server's
        env.pop(name)
    env["HOME"] = str(tmp_path / "user")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / ".slipway").symlink_to(server.home)

    def run(command: str, expected: list[str] = []) -> str:  # noqa: B006
        command = command.replace("http://127.0.0.1:8080", server.url)
        r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=work, env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, (command, r.stdout, r.stderr, server.log())
        for line in expected:
            assert shows(line, r.stdout), (command, line, r.stdout)
        return r.stdout

    blocks = list(code_blocks(README.read_text(), "## A five-minute tour"))
    (_, tour), (_, sdk), (_, rest) = blocks
    for step in steps(tour):
        run(step.command, step.expected)

    assert '"ref": "cancer:1"' in run("slipway data show cancer:1 -o json")
    assert '"lineage"' in run("slipway models show cancer:1 -o json")

    (work / "snippet.py").write_text(sdk)
    printed = run("python snippet.py").split()
    assert printed[0] == "cancer:1" and float(printed[1]) > 0.9 and printed[2] == "cancer:3"

    # The REST lines share a shell (KEY is set by the first one).
    answers = run(rest)
    assert '"ref":"cancer:1"' in answers.replace(" ", "") and '"label":"malignant"' in answers.replace(" ", "")
    return run


def test_readme_tour(demo_server: SlipwayServer, tmp_path: Path) -> None:
    run = type_tour(demo_server, tmp_path)
    # The tour's names are the user's own: version 1 of each, and the demo untouched beside them.
    assert "demo-cancer" in run("slipway models show demo-cancer@production -o json")
    run("slipway endpoints delete cancer-ep")


@pytest.mark.postgres
@pytest.mark.xdist_group("ray")
def test_readme_tour_on_postgres_s3_ray_with_two_servers(
        tmp_path: Path, postgres: str, s3_server: S3Server, s3_bucket: str, ray_cluster: RayCluster) -> None:
    """docs/scale-out.md's three machines on one: a fresh database on the session's Postgres, a bucket on its
    S3-compatible server (keys from the standard AWS variables), jobs, trials and endpoint replicas on its Ray
    cluster, and two servers on all of that. The tour goes to one; the other sees what it made."""
    env = {"SLIPWAY_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
           "SLIPWAY_ARTIFACT_URL": f"s3://{s3_bucket}/slipway", "SLIPWAY_S3_ENDPOINT_URL": s3_server.url,
           "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": "us-east-1",
           "SLIPWAY_COMPUTE_URL": ray_cluster.address,
           "SLIPWAY_SERVING_RUNTIME_URL": f"ray+gcs://{ray_cluster.address}",
           "SLIPWAY_JOBS_DIR": str(tmp_path / "jobs")}
    db = fresh_pg_database(postgres)
    first = SlipwayServer(tmp_path / "a", database_url=db, env=env)
    second = SlipwayServer(tmp_path / "b", database_url=db, env=env)
    try:
        first.start(timeout=180)
        second.start(timeout=180)
        run = type_tour(first, tmp_path)
        status = json.loads(run("slipway status -o json"))
        assert status["database"].startswith("postgresql+psycopg://"), status
        assert f"s3://{s3_bucket}/slipway" in status["artifact_store"], status
        assert status["compute"] == ray_cluster.address, status
        assert f"ray+gcs://{ray_cluster.address}" in status["serving_runtime"], status
        # The other server, on the same database and store, sees the same jobs, models and endpoint, and serves it.
        with Client(url=second.url, api_key=first.admin_key, home=first.home) as c:
            jobs = {j.name for j in c.jobs.iter()}
            assert {"cancer-lr", "cancer-lr-py"} <= jobs, jobs
            tuned = c.tuning.get("cancer-tune").view
            assert tuned.status == "Completed" and tuned.counters.get("completed") == 3, tuned
            assert tuned.best_trial is not None
            assert "[slipway] Ray: node" in "".join(c.jobs.logs(tuned.best_trial.job))  # the trials ran on Ray
            assert {"cancer:1", "cancer:2", "cancer:3"} <= {v.ref for v in c.models.versions("cancer").items}
            ep = c.endpoints.get("cancer-ep")
            assert ep.status == "InService" and "cancer:2" in str(ep.desired), ep
            assert c.endpoints.invoke("cancer-ep", {"instances": first_rows(1)})["predictions"]
        leader, other = _kill_leader_while_invoking(first, second, tmp_path)
        with Client(url=other.url, api_key=first.admin_key, home=first.home) as c:
            c.endpoints.delete("cancer-ep", timeout=60)
        for srv in (first, second):
            assert "Traceback" not in srv.log(), srv.log()
    finally:
        for srv in (first, second):
            srv.stop()


SINGLETONS = {"jobs", "endpoints", "tuning"}  # the controllers one server leads (tests/integration/test_scaleout.py)
SLEEPER = """import os, time
print("started", flush=True)
time.sleep(2)
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("done")
print("finished", flush=True)
"""


def _kill_leader_while_invoking(first: SlipwayServer, second: SlipwayServer,
                                tmp_path: Path) -> tuple[SlipwayServer, SlipwayServer]:
    """``kill -9`` the server that leads while the endpoint (its replicas Ray actors) is invoked in a loop through
    the other: the other takes over within 10 s, the invocations go on, a job sent after the kill runs on Ray,
    and nothing is duplicated (one replica actor per replica row, the job run once)."""
    import threading

    import httpx
    import ray

    began = time.monotonic()
    key = first.admin_key
    headers = {"Authorization": f"Bearer {key}"}

    def leads(srv: SlipwayServer) -> set[str]:
        r = httpx.get(f"{srv.url}/api/v1/status", headers=headers, timeout=10)
        r.raise_for_status()
        return set(r.json()["leading"]) & SINGLETONS

    leader, other = (first, second) if "endpoints" in leads(first) else (second, first)

    def replica_ids(srv: SlipwayServer) -> set[str]:
        r = httpx.get(f"{srv.url}/api/v1/endpoints/cancer-ep", headers=headers, timeout=10)
        r.raise_for_status()
        return {str(rep["replica_id"]) for rep in r.json().get("replicas") or []}

    replicas = replica_ids(other)
    assert replicas, "the endpoint has replicas"
    outcomes: list[tuple[float, int | str]] = []  # (seconds since the kill, negative before it; status or error)
    stop = threading.Event()
    killed_at: list[float] = []

    def invoke() -> None:
        with httpx.Client(base_url=other.url, headers=headers, timeout=30) as http:
            while not stop.is_set():
                try:
                    code: int | str = http.post("/endpoints/cancer-ep/invocations",
                                                json={"instances": first_rows(1)}).status_code
                except httpx.HTTPError as exc:
                    code = type(exc).__name__
                outcomes.append((time.monotonic() - (killed_at[0] if killed_at else time.monotonic()), code))
                time.sleep(0.02)

    loop = threading.Thread(target=invoke, daemon=True)
    loop.start()
    try:
        while len(outcomes) < 5:
            time.sleep(0.05)
        leader.kill()
        killed_at.append(time.monotonic())
        while leads(other) != SINGLETONS:
            assert time.monotonic() - killed_at[0] < 10, f"the other server leads only {leads(other)} after 10 s"
            time.sleep(0.05)
        took = time.monotonic() - killed_at[0]
        print(f"failover with Ray replicas: the other server led every controller {took:.2f} s after the kill -9")
        src = tmp_path / "after-kill"
        src.mkdir()
        (src / "sleeper.py").write_text(SLEEPER)
        with Client(url=other.url, api_key=key, home=first.home) as c:
            job = c.jobs.create("after-kill", script="sleeper.py", source_dir=src).wait(timeout=180)
            assert job.status == "Completed", job.failure_reason
            logs = "".join(job.logs())
            assert "[slipway] Ray: node" in logs and logs.count("started") == 1 and logs.count("finished") == 1, logs
            assert [t.status for t in job.transitions].count("Training") == 1
            time.sleep(1)  # invocations go on after the new leader adopted the replicas
            stop.set()
            loop.join(timeout=60)
            after = replica_ids(other)
    finally:
        stop.set()
    failed = [(round(t, 2), code) for t, code in outcomes if code != 200]
    print(f"{len(outcomes)} invocations through the other server, {len(failed)} failed: {failed[:10]}")
    assert [t for t, _ in failed if t < 0] == [], failed  # all served before the kill
    assert not failed or max(t for t, _ in failed) - min(t for t, _ in failed) < 10, failed  # a bounded window
    assert sum(1 for t, code in outcomes if t > 0 and code == 200) > 5, outcomes[-5:]
    assert after == replicas, (replicas, after)  # the same replicas, adopted: none started twice
    ray.init(address=_ray_address(first), logging_level="WARNING", log_to_driver=False)
    try:
        actors = [a for a in ray.util.list_named_actors(all_namespaces=True)
                  if str(a.get("name", "")).startswith("slipway-replica-")]
    finally:
        ray.shutdown()
    assert len(actors) == len(replicas), actors
    print(f"the kill -9 check took {time.monotonic() - began:.1f} s")
    return leader, other


def _ray_address(srv: SlipwayServer) -> str:
    return srv.env["SLIPWAY_COMPUTE_URL"]
