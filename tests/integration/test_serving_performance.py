"""Serving performance features end to end: the runtime shown and chosen, opt-outs, the queue bound."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from slipway.client import Client
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.servers import SlipwayServer

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")


def _runtime(replica_url: str) -> str:
    metrics = httpx.get(replica_url.replace("/invocations", "") + "/metrics").text
    line = next(ln for ln in metrics.splitlines() if ln.startswith("slipway_replica_info"))
    return line.split('runtime="', 1)[1].split('"', 1)[0]


def test_models_show_the_runtime_and_onnx_can_be_turned_off(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    env = sqlite_server.cli_env()
    art = write_cancer_artifact(tmp_path / "lr")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    assert cli("models", "import", str(art), "--name", "fast").returncode == 0
    assert cli("models", "import", str(art), "--name", "plain", "--no-onnx").returncode == 0
    shown = cli("models", "show", "fast:1")
    assert "runtime: onnxruntime (ONNX export verified on" in shown.stdout, shown.stdout
    assert "runtime: scikit-learn (ONNX turned off at registration" in cli("models", "show", "plain:1").stdout
    assert json.loads(cli("models", "show", "fast:1", "-o", "json").stdout)["runtime"] == "onnxruntime"

    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        on = c.endpoints.deploy("fast-ep", "fast:1", serving={"workers": 1})
        off = c.endpoints.deploy("off-ep", "fast:1", serving={"onnx": False, "workers": 1})
        assert _runtime(on.replicas[0].url) == "onnxruntime"
        assert _runtime(off.replicas[0].url) == "scikit-learn"  # turned off per endpoint
        body = {"instances": first_rows(3)}
        a, b = c.endpoints.invoke("fast-ep", body), c.endpoints.invoke("off-ep", body)
        for p, q in zip(a["predictions"], b["predictions"]):
            assert p["label"] == q["label"]
            assert abs(p["confidence"] - q["confidence"]) <= 1e-5
        # The per-endpoint options are part of the desired state, shown by `endpoints show`.
        assert c.endpoints.get("off-ep").live["variants"][0]["serving"]["onnx"] is False


SLOW = '''
import time

def model_fn(model_dir):
    return None

def predict_fn(data, model):
    time.sleep(0.3)
    return {"ok": True}
'''


def test_past_the_queue_bound_a_replica_answers_503_with_retry_after(tmp_path: Path) -> None:
    art = tmp_path / "slow"
    (art / "code").mkdir(parents=True)
    (art / "code" / "inference.py").write_text(textwrap.dedent(SLOW))
    (art / "slipway-model.json").write_text(json.dumps({
        "format_version": 1, "framework": "custom", "model_file": None, "problem_type": None,
        "signature": {"input_kind": "array", "inputs": [], "input_shape": None, "labels": None}}))
    log = tmp_path / "replica.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "slipway.serving.replica", "--artifact", str(art), "--port", "0",
                                 "--report-port", "--max-queue", "2"], stdout=subprocess.PIPE, stderr=out)
    try:
        assert proc.stdout is not None
        port = orjson.loads(proc.stdout.readline())["port"]
        url = f"http://127.0.0.1:{port}"

        def post(_: int) -> httpx.Response:
            return httpx.post(url + "/invocations", content=b"[[1]]", headers={"Content-Type": "application/json"},
                              timeout=30)

        for _ in range(200):
            try:
                if httpx.get(url + "/ping").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(post, range(8)))
        codes = sorted(r.status_code for r in answers)
        assert codes.count(200) >= 2 and codes.count(503) >= 1, codes
        assert set(codes) <= {200, 503}
        shed = next(r for r in answers if r.status_code == 503)
        assert shed.headers["retry-after"] == "1"
        assert "its bound (setting 'max_queue')" in shed.json()["error"]["message"]
        metrics = httpx.get(url + "/metrics").text
        assert "slipway_replica_queue_bound 2" in metrics and "slipway_replica_queue_depth 0" in metrics
        assert f"slipway_replica_rejected_total {codes.count(503)}" in metrics
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert "Traceback" not in log.read_text()


def test_hot_path_answers_like_the_full_route_and_keeps_access_control(sqlite_server: SlipwayServer,
                                                                      tmp_path: Path) -> None:
    """A new key's first call takes the full FastAPI route (its key is not cached yet); its next calls take
    the plain ASGI hot path. Both must answer byte for byte alike, errors included, and a change to
    the key (revoked) or a policy that denies must still be refused and audited."""
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        [replica] = c.endpoints.deploy("hot", "cancer:1").replicas
        # The gateway reaches the replica on a Unix socket only this user may open. (A replica started from the
        # warm standby serves in the confined child the standby forked: look at both.)
        proc = psutil.Process(replica.pid)
        [path] = [u.laddr for p in (proc, *proc.children()) for u in p.net_connections("unix")
                  if u.laddr.endswith(".sock")]
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        users_key = c.keys.create(user="admin", description="hot path").key
        row = first_rows(1)[0]
        cases: list[tuple[str, bytes, dict[str, str]]] = [
            ("good", orjson.dumps({"instances": [row, row]}), {}),
            ("csv out", orjson.dumps({"instances": [row]}), {"accept": "text/csv"}),
            ("bad json", b'{"instances": [[1, 2', {}),
            ("short row", orjson.dumps({"instances": [[1.0, 2.0]]}), {}),
            ("unknown variant", orjson.dumps({"instances": [row]}), {"X-Slipway-Target-Variant": "nope"}),
            ("too large", b'{"instances": [' + b"[1.0]," * (7 * 1024 * 1024 // 6) + b"[1.0]]}", {}),
        ]
        for label, body, extra in cases:
            key = c.keys.create(user="admin", description=label).key  # uncached: the first call goes the full way
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}", **extra}
            with httpx.Client(base_url=sqlite_server.url, timeout=30) as http:
                answers = [http.post("/endpoints/hot/invocations", content=body,
                                     headers={**headers, "X-Request-ID": f"case-{i}"}) for i in range(3)]
            full, *hot = answers
            for h in hot:
                assert (h.status_code, h.content.replace(b"case-1", b"case-0").replace(b"case-2", b"case-0")) == \
                    (full.status_code, full.content), label
                for name in ("content-type", "x-slipway-variant", "x-slipway-model", "retry-after"):
                    assert h.headers.get(name) == full.headers.get(name), (label, name)
                assert h.headers["x-request-id"] == h.request.headers["x-request-id"]
        # Counted per user like every invocation, failed ones included (3 calls per case).
        counts = {x.resource: x.count for x in c.audit.counts() if x.action == "endpoints:Invoke" and x.user == "admin"}
        assert counts["endpoint/hot"] == 3 * len(cases)

        # A revoked key is refused at once, though it was cached a moment ago.
        good = orjson.dumps({"instances": [row]})
        with httpx.Client(base_url=sqlite_server.url, timeout=30,
                          headers={"Authorization": f"Bearer {users_key}", "Content-Type": "application/json"}) as h:
            assert h.post("/endpoints/hot/invocations", content=good).status_code == 200
            assert h.post("/endpoints/hot/invocations", content=good).status_code == 200
            c.keys.revoke(users_key.split("_")[1])
            assert h.post("/endpoints/hot/invocations", content=good).status_code == 401

        # A key whose policy does not allow this endpoint: 403 on every call, each one in the audit trail.
        narrow = {"Statement": [{"Effect": "Allow", "Action": ["endpoints:Invoke"], "Resource": ["endpoint/other"]}]}
        limited = c.keys.create(policy=narrow, description="other endpoint only").key
        with httpx.Client(base_url=sqlite_server.url, timeout=30,
                          headers={"Authorization": f"Bearer {limited}", "Content-Type": "application/json"}) as h:
            refused = [h.post("/endpoints/hot/invocations", content=good) for _ in range(3)]
        assert [r.status_code for r in refused] == [403, 403, 403]
        assert "may not endpoints:Invoke on endpoint/hot" in refused[-1].json()["error"]["message"]
        denied = c.audit.list(outcome="denied", action="endpoints:Invoke").items
        assert len([e for e in denied if e.resource == "endpoint/hot" and e.status == 403]) == 3
