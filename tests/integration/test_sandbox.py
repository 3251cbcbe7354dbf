"""User code cannot read the platform: a hostile job and a hostile model on a real server, real processes.

The attack of issue #12: a script-mode job walks up from its folder to the home and reads the admin
key, the master key, the database, the artifact store, another job's folder, the invoking user's ~
and the server's environment. Each test asserts on the files' own bytes never reaching the log or
the response, not on redaction, and that ordinary jobs and endpoints still work.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import orjson
import pytest

from slipway.client import Client
from slipway.sandbox import Sandbox, isolation
from slipway.serving.runtime import ServingRuntime
from slipway.settings import Settings
from slipway.storage import open_store
from tests.support.models import custom_tar
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

needs_landlock = pytest.mark.skipif(not isolation().isolated, reason="this kernel has no Landlock")

SERVER_SECRET = "AKIA-server-env-secret-4242"
USER_SECRET = "aws_secret_access_key = users-own-secret-1717"
VICTIM_SECRET = "victims-model-weights-9191"

ATTACK = r"""
import base64, json, os

hp = json.loads(os.environ["SM_HPS"])

def grab(path):
    try:
        with open(path, "rb") as f:
            data = f.read(48)
    except OSError as exc:
        print("DENIED", path, type(exc).__name__, flush=True)
        return
    print("GOT", path, base64.b64encode(data).decode(), data[:48], flush=True)

def listing(path):
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        print("DENIED", path, type(exc).__name__, flush=True)
        return []
    print("LISTED", path, names, flush=True)
    return names

# Walk up from the job's own folder, trying what an attacker would at every level.
folder = os.path.dirname(os.environ["SM_MODEL_DIR"])
while True:
    parent = os.path.dirname(folder)
    if parent == folder:
        break
    folder = parent
    names = listing(folder)
    for name in ["credentials", "master.key", "slipway.db", *names]:
        path = os.path.join(folder, name)
        if os.path.isdir(path):
            listing(path)
        else:
            grab(path)
for root, dirs, files in os.walk(hp["artifacts"], onerror=lambda e: print("DENIED", e.filename, type(e).__name__)):
    for name in files:
        grab(os.path.join(root, name))
for target in (hp["artifact_file"], hp["victim_file"], hp["user_file"], f"/proc/{hp['server_pid']}/environ",
               f"/proc/{os.getppid()}/environ"):
    grab(target)
print("ENVIRONMENT", json.dumps(dict(os.environ)), flush=True)
try:
    open(os.path.join(hp["victim_dir"], "planted.txt"), "w").write("x")
    print("WROTE into the other job's folder")
except OSError as exc:
    print("DENIED writing into the other job's folder", type(exc).__name__)
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("the attacker still trains")
"""

VICTIM = r"""
import json, os, time
with open(os.path.join(os.environ["SM_MODEL_DIR"], "secret.txt"), "w") as f:
    f.write(json.loads(os.environ["SM_HPS"])["token"])
deadline = time.time() + 300
while time.time() < deadline:
    time.sleep(0.2)
"""

STEAL_IN_MODEL_FN = r"""
import os

def _try(fn):
    try:
        return "GOT " + str(fn())[:200]
    except OSError as exc:
        return "DENIED " + type(exc).__name__

def model_fn(model_dir):
    seen = {}
    folder = model_dir
    for _ in range(6):
        folder = os.path.dirname(folder)
        seen[os.path.join(folder, "credentials")] = _try(lambda: open(os.path.join(folder, "credentials")).read())
    seen["other model"] = _try(lambda: os.listdir(os.path.dirname(model_dir)))
    seen["write own model"] = _try(lambda: open(os.path.join(model_dir, "planted.txt"), "w").write("x"))
    seen["server environ"] = _try(lambda: open(f"/proc/{os.getppid()}/environ", "rb").read())
    seen["user home"] = _try(lambda: open(USER_FILE).read())
    seen["environment"] = dict(os.environ)
    return seen

def input_fn(body, content_type):
    return body

def predict_fn(data, model):
    return model

def output_fn(prediction, accept):
    return prediction
"""


def b64_head(path: Path) -> str:
    return base64.b64encode(path.read_bytes()[:48]).decode()


def write_script(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(textwrap.dedent(body))
    return folder


@needs_landlock
def test_a_hostile_job_reads_nothing_of_the_platform(tmp_path: Path) -> None:
    user_file = tmp_path / "user-home" / ".aws" / "credentials"  # HOME of the server (set by conftest)
    user_file.parent.mkdir(parents=True)
    user_file.write_text(USER_SECRET)
    srv = SlipwayServer(tmp_path / "home", env={"AWS_SECRET_ACCESS_KEY": SERVER_SECRET}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.datasets.push("shapes", write_table(tmp_path / "shapes.csv"), label="kind")
            c.jobs.create("victim", script="train.py", source_dir=write_script(tmp_path / "victim", VICTIM),
                                   hyperparameters={"token": VICTIM_SECRET})
            victim_file = srv.home / "jobs" / "victim" / "model" / "secret.txt"
            wait_for(victim_file.is_file, timeout=120, what="the other job's secret file")
            artifact_file = next(p for p in (srv.home / "artifacts").rglob("*") if p.is_file())
            hps = {"artifacts": str(srv.home / "artifacts"), "artifact_file": str(artifact_file),
                   "victim_file": str(victim_file), "victim_dir": str(victim_file.parent),
                   "user_file": str(user_file), "server_pid": str(srv.proc.pid if srv.proc else 0)}
            attacker = c.jobs.create("attacker", script="train.py", source_dir=write_script(tmp_path / "attack", ATTACK),
                                     data={"train": "shapes:1"}, hyperparameters=hps)
            attacker.wait(timeout=180)
            log = "".join(attacker.logs())
            c.jobs.get("victim").stop()
            # What the attacker was after: none of its bytes reached the log.
            loot = {"credentials": srv.home / "credentials", "master.key": srv.home / "master.key",
                    "slipway.db": srv.home / "slipway.db", "artifact": artifact_file, "other job": victim_file,
                    "user's ~": user_file}
            for what, path in loot.items():
                assert b64_head(path) not in log, f"the job read {what} ({path})"
                assert f"DENIED {path} PermissionError" in log, f"{what}: {path}"
            for secret in (srv.admin_key, VICTIM_SECRET, USER_SECRET, SERVER_SECRET, "SQLite format 3"):
                assert secret not in log
            assert f"DENIED /proc/{srv.proc.pid if srv.proc else 0}/environ PermissionError" in log
            assert f"DENIED {srv.home} PermissionError" in log  # the home cannot even be listed
            assert "DENIED writing into the other job's folder PermissionError" in log
            assert not (victim_file.parent / "planted.txt").exists()
            env = json.loads(log.split("ENVIRONMENT ", 1)[1].splitlines()[0])
            assert not [k for k in env if k.startswith(("AWS_", "SLIPWAY_API", "SLIPWAY_URL", "SLIPWAY_HOME"))]
            assert env["HOME"].startswith(str(srv.home / "jobs" / "attacker"))
            assert env["TMPDIR"].startswith(str(srv.home / "jobs" / "attacker"))
            # The box is no obstacle to honest work: the attacker's own training completed.
            assert attacker.status == "Completed", attacker.failure_reason
            assert "[slipway] Sandbox: landlock ABI" in log

            # Built-in jobs, the first in a fresh process, the second in the warm spare (its confined child).
            for name in ("builtin-cold", "builtin-warm"):
                job = c.jobs.create(name, algorithm="logistic-regression", data={"train": "shapes:1"})
                job.wait(timeout=180)
                assert job.status == "Completed", job.failure_reason
                job_log = "".join(job.logs())
                assert "[slipway] Sandbox: landlock ABI" in job_log
            assert "(warm process)" in job_log
            status = c.status()
            assert status.sandbox.isolated and status.sandbox.mechanism.startswith("landlock ABI")
    finally:
        srv.stop()


@needs_landlock
def test_a_hostile_model_reads_nothing_and_still_serves(tmp_path: Path) -> None:
    user_file = tmp_path / "user-home" / "notes.txt"
    user_file.parent.mkdir(parents=True)
    user_file.write_text(USER_SECRET)
    srv = SlipwayServer(tmp_path / "home", env={"AWS_SECRET_ACCESS_KEY": SERVER_SECRET}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            code = f"USER_FILE = {str(user_file)!r}\n" + STEAL_IN_MODEL_FN
            c.models.import_(custom_tar(tmp_path / "steal.tar.gz", code), "thief")
            assert c.endpoints.deploy("thief", "thief:1").status == "InService"
            with srv.http() as http:
                r = http.post("/endpoints/thief/invocations", content=b"{}",
                              headers={"Content-Type": "application/json"})
            check_model_saw_nothing(srv, r)
            # A copy of the model's serving folder for a runtime of this test's own (beside the server's).
            folder = srv.home / "serving" / "direct-copy"
            shutil.copytree(next((srv.home / "serving" / "models").glob("thief-1-*")), folder)

        # Both ways a replica starts, each on its own: through the launcher (no spare yet), then the spare.
        runtime = ServingRuntime(Settings.load(env={}, home=srv.home), open_store(f"file://{tmp_path / 'unused'}"),
                                 Sandbox(home=srv.home))
        handles = []
        try:
            for standby in (False, True):
                if standby:
                    runtime.prepare_standby()  # started by the first spawn already, or now
                handle = runtime.spawn("direct", "v", "thief:1", folder)
                handles.append(handle)
                runtime.wait_ready([handle])
                assert (b"--standby" in Path(f"/proc/{handle.pid}/cmdline").read_bytes()) is standby
                r = httpx.post(handle.url + "/invocations", content=b"{}", headers={"Content-Type": "application/json"})
                check_model_saw_nothing(srv, r)
        finally:
            runtime.stop(handles)
            runtime.close()
    finally:
        srv.stop()


def test_an_unconfined_server_says_so_at_start_and_in_status(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_SANDBOX": "off"}).start()
    try:
        wait_for(lambda: "Slipway is up" in srv.log(), what="the console line of `slipway up`")
        console = srv.log()
        assert "WARNING slipway.server: Jobs are not isolated: the 'sandbox' setting is 'off'" in console
        assert "Warning: jobs are not isolated" in console
        out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "status"], capture_output=True, text=True,
                             env=srv.cli_env(), timeout=60)
        assert out.returncode == 0, out.stderr
        assert "jobs are not isolated: the 'sandbox' setting is 'off'" in out.stdout
        with Client(url=srv.url, home=srv.home) as c:
            assert c.status().sandbox.isolated is False
        with srv.http() as http:
            overview = http.get("/").text
        assert "not isolated</span> jobs are not isolated: the &#39;sandbox&#39; setting is &#39;off&#39;" in overview
    finally:
        srv.stop()


def check_model_saw_nothing(srv: SlipwayServer, r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    seen = orjson.loads(r.content)
    assert seen[str(srv.home / "credentials")] == "DENIED PermissionError"
    assert seen["other model"] == "DENIED PermissionError"
    assert seen["write own model"] == "DENIED PermissionError"
    assert seen["server environ"] == "DENIED PermissionError"
    assert seen["user home"] == "DENIED PermissionError"
    assert not [k for k in seen["environment"] if k.startswith(("AWS_", "SLIPWAY_"))]
    for secret in (srv.admin_key, SERVER_SECRET, USER_SECRET):
        assert secret not in r.text


def write_table(path: Path, rows: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["size,weight,kind"] + [f"{(10 + i % 7) if i % 2 else (2 + i % 5)}.5,{i % 11},{'big' if i % 2 else 'small'}"
                                    for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path
