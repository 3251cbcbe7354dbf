"""Endpoints end to end: real server, real replica processes, real requests (SQLite and Postgres)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import orjson
import pytest

from slipway.client import Client
from slipway.errors import Conflict, NotFound
from tests.support.load import Load
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.servers import SlipwayServer
from tests.support.waiting import pid_alive, wait_for

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


def register_two(c: Client, tmp_path: Path) -> None:
    c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
    c.models.import_(write_cancer_artifact(tmp_path / "v2", kind="lr-c"), "cancer")


def test_deploy_invoke_update_under_load_rollback_delete(client: Client, server: SlipwayServer,
                                                         tmp_path: Path) -> None:
    register_two(client, tmp_path)
    client.models.alias("cancer", "production", 1)
    ep = client.endpoints.deploy("cancer-ep", "cancer@production")
    assert ep.status == "InService" and ep.live["variants"][0]["model"] == "cancer:1"
    assert ep.url == f"{server.url}/endpoints/cancer-ep/invocations"
    [replica] = ep.replicas
    out = client.endpoints.invoke("cancer-ep", {"instances": first_rows(2)})
    assert [p["label"] for p in out["predictions"]] == ["malignant", "malignant"]
    first = out["predictions"][0]
    assert set(first) == {"label", "confidence", "probabilities"}
    assert first["confidence"] == max(first["probabilities"].values()) > 0.5
    assert set(first["probabilities"]) == {"benign", "malignant"}
    direct = httpx.post(replica.url, json={"instances": first_rows(1)})
    assert direct.json()["predictions"][0]["label"] == "malignant"
    assert httpx.get(f"http://127.0.0.1:{replica.port}/ping").status_code == 200

    with Load(ep.url, server.admin_key) as load:
        wait_for(lambda: len(load.statuses) >= 20)
        updated = client.endpoints.update("cancer-ep", "cancer:2")
        assert updated.status == "InService" and updated.live["variants"][0]["model"] == "cancer:2"
        n = len(load.statuses)
        wait_for(lambda: len(load.statuses) >= n + 20)
        rolled = client.endpoints.rollback("cancer-ep")
        n = len(load.statuses)
        wait_for(lambda: len(load.statuses) >= n + 20)
    assert load.errors == []
    assert set(load.statuses) == {200}
    assert load.models == {"cancer:1", "cancer:2"}
    assert rolled.live["variants"][0]["model"] == "cancer:1"
    assert [(d.number, d.kind, d.status) for d in rolled.deployments] == [
        (3, "rollback", "Succeeded"), (2, "update", "Succeeded"), (1, "create", "Succeeded")]
    assert not pid_alive(replica.pid) or rolled.replicas[0].pid == replica.pid

    with pytest.raises(Conflict, match="served by endpoint cancer-ep"):
        client.models.delete("cancer:1")
    assert client.models.get("cancer:1").used_by == ["cancer-ep"]
    pids = [r.pid for r in client.endpoints.get("cancer-ep").replicas]
    client.endpoints.delete("cancer-ep")
    with pytest.raises(NotFound):
        client.endpoints.get("cancer-ep")
    wait_for(lambda: not any(pid_alive(p) for p in pids))
    client.models.delete("cancer:1", force=True)  # no endpoint uses it any more


def test_bad_requests_get_clear_errors_and_never_crash_a_replica(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        ep = c.endpoints.deploy("cancer-ep", "cancer:1")
        names = [i["name"] for i in c.models.get("cancer:1").signature["inputs"]]
        with pytest.raises(NotFound, match="Versions of 'cancer': 1"):
            c.endpoints.deploy("other", "cancer:9")
        with pytest.raises(NotFound, match="no alias 'production'"):
            c.endpoints.deploy("other", "cancer@production")
    [replica] = ep.replicas
    row = first_rows(1)[0]
    path = "/endpoints/cancer-ep/invocations"
    with sqlite_server.http() as http:
        def post(body: bytes, ctype: str = "application/json", **headers: str) -> httpx.Response:
            return http.post(path, content=body, headers={"Content-Type": ctype, **headers})

        r = post(b'{"instances": [[1, 2')
        assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
        r = post(orjson.dumps({"instances": [[1.0, 2.0, 3.0]]}))
        assert r.status_code == 400
        assert "Row 0 has 3 values. Expected the signature: 30 features: mean_radius (float64)" in r.json()["error"]["message"]
        assert len(r.json()["error"]["details"]["expected_signature"]) == 30
        r = post(orjson.dumps([{"radius": 1.0}]))
        assert r.status_code == 400 and "unknown feature 'radius'" in r.json()["error"]["message"]
        r = post(orjson.dumps({"instances": [["big", *row[1:]]]}))
        assert r.status_code == 400
        assert "Feature 'mean_radius' in row 0 has value 'big'. Expected a number" in r.json()["error"]["message"]
        r = post(orjson.dumps({"instances": []}))
        assert r.status_code == 400 and "The batch is empty" in r.json()["error"]["message"]
        big = b'{"instances": [' + b"[1.0]," * (10 * 1024 * 1024 // 6) + b"[1.0]]}"
        r = post(big)
        assert r.status_code == 413
        assert "over the limit of 6291456 bytes (6 MB" in r.json()["error"]["message"]
        r = post(b"x", "image/png")
        assert r.status_code == 415
        r = http.post("/endpoints/nope/invocations", json={"instances": [row]})
        assert r.status_code == 404 and "Endpoint 'nope' not found" in r.json()["error"]["message"]
        assert r.json()["error"]["request_id"] == r.headers["x-request-id"]

        # Every good payload shape still works on the same replica.
        assert post(orjson.dumps({"instances": [row]})).json()["predictions"][0]["label"] == "malignant"
        assert post(orjson.dumps({"inputs": [row]})).status_code == 200
        assert post(orjson.dumps([dict(zip(names, row))])).json()["predictions"][0]["label"] == "malignant"
        split = {"dataframe_split": {"columns": names, "data": [row, row]}}
        assert len(post(orjson.dumps(split)).json()["predictions"]) == 2
        csv_rows = "\n".join(",".join(map(str, r)) for r in first_rows(3)).encode()
        assert len(post(csv_rows, "text/csv").json()["predictions"]) == 3
        as_csv = post(orjson.dumps({"instances": [row]}), accept="text/csv")
        assert as_csv.headers["content-type"].startswith("text/csv")
        assert as_csv.text.splitlines()[0] == "label,confidence,benign,malignant"
        import io

        import numpy as np

        buf = io.BytesIO()
        np.save(buf, np.array(first_rows(2)))
        assert len(post(buf.getvalue(), "application/x-npy").json()["predictions"]) == 2

    direct = httpx.post(replica.url, content=big, headers={"Content-Type": "application/json"}, timeout=30)
    assert direct.status_code == 413 and "6 MB" in direct.json()["error"]["message"]
    assert pid_alive(replica.pid)
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        assert [r.pid for r in c.endpoints.get("cancer-ep").replicas] == [replica.pid]


def test_creating_failed_deploy_and_failed_update(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        broken = write_cancer_artifact(tmp_path / "broken")
        (broken / "model.joblib").write_bytes(b"this is not a pickle")
        c.models.import_(broken, "broken")

        c.endpoints.deploy("starting", "cancer:1", wait=False)
        with sqlite_server.http() as http:
            r = http.post("/endpoints/starting/invocations", json={"instances": first_rows(1)})
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert "is Creating" in r.json()["error"]["message"]

        good = c.endpoints.wait("starting")
        assert good.status == "InService"
        bad = c.endpoints.deploy("broken-ep", "broken:1")
        assert bad.status == "Failed" and "Model failed to load" in bad.reason
        assert bad.deployments[0].status == "Failed" and bad.replicas == []
        with sqlite_server.http() as http:
            r = http.post("/endpoints/broken-ep/invocations", json={"instances": first_rows(1)})
        assert r.status_code == 503 and "is Failed: " in r.json()["error"]["message"]

        after = c.endpoints.update("starting", "broken:1")
        assert after.status == "InService"
        assert after.live["variants"][0]["model"] == "cancer:1"
        assert after.deployments[0].status == "Failed" and "Model failed to load" in after.deployments[0].reason
        assert "failed; still serving primary=cancer:1 (rolled back)" in after.reason
        assert [r.pid for r in after.replicas] == [r.pid for r in good.replicas]
        r2 = c.endpoints.invoke_raw("starting", orjson.dumps({"instances": first_rows(1)}))
        assert r2.headers["x-slipway-model"] == "cancer:1"


def test_variants_weights_and_targeting(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        register_two(c, tmp_path)
        ep = c.endpoints.deploy("ab", variants=["a=cancer:1:100", "b=cancer:2:0"])
        assert [(v["name"], v["model"], v["weight"]) for v in ep.live["variants"]] == [
            ("a", "cancer:1", 100), ("b", "cancer:2", 0)]
        body = orjson.dumps({"instances": first_rows(1)})
        seen = {c.endpoints.invoke_raw("ab", body).headers["x-slipway-variant"] for _ in range(10)}
        assert seen == {"a"}
        targeted = c.endpoints.invoke_raw("ab", body, variant="b")
        assert (targeted.headers["x-slipway-variant"], targeted.headers["x-slipway-model"]) == ("b", "cancer:2")
        with pytest.raises(NotFound, match="no variant 'c'"):
            c.endpoints.invoke_raw("ab", body, variant="c")
        c.endpoints.update("ab", variants=["a=cancer:1:50", "b=cancer:2:50"])
        seen = {c.endpoints.invoke_raw("ab", body).headers["x-slipway-variant"] for _ in range(60)}
        assert seen == {"a", "b"}


CUSTOM = """
import json, time

def model_fn(model_dir):
    with open(model_dir + "/factor.txt") as f:
        return float(f.read())

def input_fn(body, content_type):
    doc = json.loads(body)
    return doc["x"]

def predict_fn(data, model):
    if data == "sleep":
        time.sleep(30)
    if data == "boom":
        return 1 / 0
    return [model * v for v in data]

def output_fn(prediction, accept):
    if accept == "text/plain":
        return " ".join(str(p) for p in prediction)
    if accept == "application/octet-stream":
        return bytes(int(p) for p in prediction)
    if accept == "text/csv":
        return ",".join(str(p) for p in prediction) + "\\n", "text/csv"
    return {"doubled": prediction}
"""

TRANSFORM = """
def model_fn(model_dir):
    return "upper"

def transform_fn(model, body, content_type, accept):
    return body.upper().encode(), "text/plain"
"""


def test_sagemaker_handlers_and_timeout(tmp_path: Path) -> None:
    from tests.support.models import custom_tar

    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_INVOCATION_TIMEOUT": "2"}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(custom_tar(tmp_path / "a.tar.gz", CUSTOM, {"factor.txt": b"2"}), "doubler")
            c.models.import_(custom_tar(tmp_path / "b.tar.gz", TRANSFORM), "shouter")
            assert c.endpoints.deploy("dbl", "doubler:1").status == "InService"
            assert c.endpoints.deploy("shout", "shouter:1").status == "InService"

            def call(payload: object, accept: str = "application/json") -> httpx.Response:
                with srv.http() as http:
                    return http.post("/endpoints/dbl/invocations", content=orjson.dumps(payload),
                                     headers={"Content-Type": "application/json", "Accept": accept})

            assert call({"x": [1, 2]}).json() == {"doubled": [2.0, 4.0]}
            r = call({"x": [1, 2]}, "text/plain")
            assert (r.text, r.headers["content-type"]) == ("2.0 4.0", "text/plain")
            r = call({"x": [1, 2]}, "application/octet-stream")
            assert (r.content, r.headers["content-type"]) == (b"\x02\x04", "application/octet-stream")
            r = call({"x": [1, 2]}, "text/csv")
            assert (r.text, r.headers["content-type"]) == ("2.0,4.0\n", "text/csv")
            r = call({"y": 1})
            assert r.status_code == 400 and "input_fn rejected the request: KeyError" in r.json()["error"]["message"]
            r = call({"x": "boom"})
            assert r.status_code == 500 and "predict_fn failed: ZeroDivisionError" in r.json()["error"]["message"]
            r = call({"x": "sleep"})
            assert r.status_code == 504 and "limit of 2 s" in r.json()["error"]["message"]
            assert call({"x": [3]}).json() == {"doubled": [6.0]}  # the replica is still there

            with srv.http() as http:
                r = http.post("/endpoints/shout/invocations", content=b"hello", headers={"Content-Type": "text/plain"})
            assert (r.status_code, r.text) == (200, "HELLO")
    finally:
        srv.stop()


def test_dead_replica_is_replaced_and_restarts_restore_endpoints(tmp_path: Path) -> None:
    import signal

    srv = SlipwayServer(tmp_path / "home").start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
            ep = c.endpoints.deploy("cancer-ep", "cancer:1", replicas=2)
            assert len(ep.replicas) == 2
            victim = ep.replicas[0]
            os.kill(victim.pid, signal.SIGKILL)
            body = orjson.dumps({"instances": first_rows(1)})
            for _ in range(10):  # a request that hits the dead replica is retried on the other
                assert c.endpoints.invoke_raw("cancer-ep", body).status_code == 200

            def healed() -> bool:
                reps = c.endpoints.get("cancer-ep").replicas
                return len(reps) == 2 and all(r.status == "Ready" for r in reps) and victim.pid not in {r.pid for r in reps}

            wait_for(healed)
            pids = [r.pid for r in c.endpoints.get("cancer-ep").replicas]
        srv.stop()  # a clean stop takes its replicas with it
        wait_for(lambda: not any(pid_alive(p) for p in pids))

        srv.start()
        with Client(url=srv.url, home=srv.home) as c:
            wait_for(lambda: c.endpoints.get("cancer-ep").status == "InService"
                     and len(c.endpoints.get("cancer-ep").replicas) == 2)
            assert c.endpoints.invoke_raw("cancer-ep", body).status_code == 200
            pids = [r.pid for r in c.endpoints.get("cancer-ep").replicas]
        srv.stop(signal.SIGKILL)  # a crash: the replicas keep serving, the next server adopts them
        srv.start()
        with Client(url=srv.url, home=srv.home) as c:
            assert sorted(r.pid for r in c.endpoints.get("cancer-ep").replicas) == sorted(pids)
            assert c.endpoints.invoke_raw("cancer-ep", body).status_code == 200
    finally:
        srv.stop()


def test_cli_endpoints(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                              env=sqlite_server.cli_env(), timeout=120)

    register = cli("models", "import", str(write_cancer_artifact(tmp_path / "v1")), "--name", "cancer")
    assert register.returncode == 0, register.stderr
    cli("models", "import", str(write_cancer_artifact(tmp_path / "v2", kind="lr-c")), "--name", "cancer")
    r = cli("endpoints", "deploy", "cancer-ep", "--model", "cancer:1", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "InService"
    data = json.dumps({"instances": first_rows(1)})
    r = cli("endpoints", "invoke", "cancer-ep", "--data", data, "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["predictions"][0]["label"] == "malignant"
    assert "variant primary (cancer:1)" in r.stderr
    r = cli("endpoints", "update", "cancer-ep", "--variant", "a=cancer:1:90", "--variant", "b=cancer:2:10")
    assert r.returncode == 0, r.stderr
    shown = json.loads(cli("endpoints", "show", "cancer-ep", "-o", "json").stdout)
    assert [v["weight"] for v in shown["live"]["variants"]] == [90, 10]
    assert all(rep["port"] > 0 for rep in shown["replicas"])
    assert "cancer-ep" in cli("endpoints", "list").stdout
    r = cli("endpoints", "rollback", "cancer-ep", "-o", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["live"]["variants"][0]["model"] == "cancer:1"
    r = cli("endpoints", "invoke", "nope", "--data", data)
    assert r.returncode == 1 and "Endpoint 'nope' not found" in r.stderr
    assert cli("endpoints", "delete", "cancer-ep").returncode == 0
    assert json.loads(cli("endpoints", "list", "-o", "json").stdout) == []
