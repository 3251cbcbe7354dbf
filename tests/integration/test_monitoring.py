"""Endpoint metrics and request capture end to end: real server, real replica, real requests through both
invocation paths."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from slipway.client import Client
from slipway.schemas import EndpointMetrics
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.servers import SlipwayServer

LIMIT = 4096  # max_payload_bytes of this server, so that a 413 is cheap to provoke


@pytest.fixture
def small_server(tmp_path: Path) -> Iterator[SlipwayServer]:
    srv = SlipwayServer(tmp_path / "server-home", env={"SLIPWAY_MAX_PAYLOAD_BYTES": str(LIMIT)}).start()
    yield srv
    srv.stop()


def _totals(m: EndpointMetrics, variant: str) -> tuple[int, int, int, int]:
    points = [p for p in m.points if p.variant == variant]
    return (sum(p.requests for p in points), sum(p.status_2xx for p in points), sum(p.status_4xx for p in points),
            sum(p.status_5xx for p in points))


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_both_invocation_paths_are_counted_captured_and_exposed(small_server: SlipwayServer, tmp_path: Path) -> None:
    body = orjson.dumps({"instances": first_rows(1)})
    with Client(url=small_server.url, home=small_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        c.endpoints.deploy("cancer-ep", "cancer:1")
        c.users.create("caller", "invoker")
        key = c.keys.create(user="caller").key
        assert c.endpoints.metrics("cancer-ep", since="1h").points == []

        rids = []
        with small_server.http(api_key=key) as http:
            # A key the server has not seen yet is authenticated by the FastAPI route (the full path).
            r = http.post("/endpoints/cancer-ep/invocations", content=body)
            assert r.status_code == 200
            rids.append(r.headers["x-request-id"])
            assert _totals(c.endpoints.metrics("cancer-ep", since="1h"), "primary") == (1, 1, 0, 0)
            # Now the key is cached: the plain-ASGI fast path answers.
            for _ in range(5):
                r = http.post("/endpoints/cancer-ep/invocations", content=body)
                assert r.status_code == 200
                rids.append(r.headers["x-request-id"])
            assert http.post("/endpoints/cancer-ep/invocations", content=body,
                             headers={"X-Slipway-Target-Variant": "no-such"}).status_code == 404
            assert http.post("/endpoints/cancer-ep/invocations", content=b"x" * (LIMIT + 1)).status_code == 413
            assert http.get("/metrics").status_code == 403  # invokers may not read the platform's metrics

        m = c.endpoints.metrics("cancer-ep", since="1h")
        assert _totals(m, "primary") == (6, 6, 0, 0)
        assert _totals(m, "") == (2, 0, 2, 0)  # refused before a variant answered: no variant label
        primary = [p for p in m.points if p.variant == "primary"]
        assert all(p.p50_ms is not None and 0 < p.p50_ms <= p.p95_ms <= p.p99_ms <= p.max_ms for p in primary)

    with small_server.http() as http:
        r = http.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        samples = _samples(r.text)
        inv = "slipway_endpoint_invocations_total"
        assert samples[(inv, (("endpoint", "cancer-ep"), ("status_class", "2xx"), ("variant", "primary")))] == 6
        assert samples[(inv, (("endpoint", "cancer-ep"), ("status_class", "4xx"), ("variant", "")))] == 2
        count = ("slipway_endpoint_latency_seconds_count", (("endpoint", "cancer-ep"), ("variant", "primary")))
        assert samples[count] == 6
        assert samples[("slipway_replicas", (("endpoint", "cancer-ep"), ("status", "Ready"), ("variant", "primary")))] == 1
        assert samples[("slipway_endpoints", (("status", "InService"),))] == 1
        assert not any("no-such" in str(labels) for _, labels in samples)  # caller text never becomes a label

        r = http.get("/api/v1/endpoints/cancer-ep/metrics", params={"since": "garbage"})
        assert r.status_code == 400
        err = r.json()["error"]
        assert err["details"]["field"] == "since" and "'garbage'" in err["message"]

    env = small_server.cli_env()
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "metrics", "cancer-ep",
                          "--since", "1h", "--output", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert _totals(EndpointMetrics.model_validate(json.loads(out.stdout)), "primary") == (6, 6, 0, 0)
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "metrics", "cancer-ep"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "p99 ms" in out.stdout and "primary" in out.stdout, out.stdout + out.stderr
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "metrics", "cancer-ep",
                          "--since", "lately"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and "Field 'since' has value 'lately'" in out.stderr

    # Request capture: on by default, every answered request of both paths, in SageMaker's format.
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "capture", "cancer-ep",
                          "--since", "1h", "--output", "json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert [r["eventMetadata"]["inferenceId"] for r in records] == rids
    for r in records:
        assert r["eventVersion"] == "0" and r["eventMetadata"]["inferenceTime"].endswith("Z")
        assert r["captureData"]["endpointInput"] == {"observedContentType": "application/json", "mode": "INPUT",
                                                     "data": body.decode(), "encoding": "JSON"}
        output = r["captureData"]["endpointOutput"]
        assert output["mode"] == "OUTPUT" and output["encoding"] == "JSON"
        assert json.loads(output["data"])["predictions"][0]["label"] == "malignant"
    stored = list((small_server.home / "artifacts" / "capture" / "cancer-ep" / "primary").rglob("*.jsonl"))
    assert stored and all(b"captureData" not in f.read_bytes() for f in stored)  # encrypted at rest

    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "update", "cancer-ep",
                          "--capture", "0"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and "capturing 0 % of requests" in out.stdout, out.stdout + out.stderr
    with Client(url=small_server.url, home=small_server.home) as c:
        assert c.endpoints.invoke("cancer-ep", {"instances": first_rows(1)})["predictions"]
        assert len(c.endpoints.capture("cancer-ep", since="1h").records) == len(rids)  # capture is off now
        assert c.endpoints.get("cancer-ep").live["variants"][0]["model"] == "cancer:1"  # nothing else changed
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "update", "cancer-ep",
                          "--capture", "150"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0 and "Field 'capture' has value 150" in out.stderr
    with small_server.http() as http:
        samples = _samples(http.get("/metrics").text)
        assert samples[("slipway_capture_records_total", (("endpoint", "cancer-ep"), ("outcome", "written")))] == 6
