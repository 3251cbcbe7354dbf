"""Drift end to end (issue #15): in-distribution traffic -> no drift; shifted traffic on two features -> drift on
exactly those, the alarm fires, a real local webhook receives it, the endpoint is rolled back. One server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from slipway.client import Client
from tests.support.models import cancer_data, write_cancer_artifact
from tests.support.servers import SlipwayServer

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)

ROWS_PER_REQUEST = 40  # keeps each captured body under capture_max_bytes


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        _Hook.received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[str]:
    _Hook.received = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()
    srv.server_close()


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _send(c: Client, frame: pd.DataFrame) -> None:
    rows = frame.to_numpy().tolist()
    for i in range(0, len(rows), ROWS_PER_REQUEST):
        assert c.endpoints.invoke("cancer-ep", {"instances": rows[i:i + ROWS_PER_REQUEST]})["predictions"]


def test_shifted_traffic_drifts_fires_the_alarm_calls_the_webhook_and_rolls_back(
        sqlite_server: SlipwayServer, tmp_path: Path, webhook: str) -> None:
    env = sqlite_server.cli_env()

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                              env=env, timeout=120)

    X, y = cancer_data()
    csv = tmp_path / "cancer.csv"
    X.assign(diagnosis=y).to_csv(csv, index=False)
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.datasets.push("cancer", csv, label="diagnosis")
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        c.models.import_(write_cancer_artifact(tmp_path / "v2", kind="lr-c"), "cancer")
        c.endpoints.deploy("cancer-ep", "cancer:1")
        c.endpoints.update("cancer-ep", "cancer:2")

        # No baseline yet: a clear 400 that says how to make one.
        out = cli("monitors", "create", "cancer-drift", "--endpoint", "cancer-ep")
        assert out.returncode != 0 and "slipway models baseline cancer:2 --from-dataset" in out.stderr, out.stderr
        out = cli("models", "baseline", "cancer:2", "--from-dataset", "cancer:1")
        assert out.returncode == 0 and "30 features, 569 rows" in out.stdout, out.stdout + out.stderr
        assert "baseline: Ready from cancer:1" in cli("models", "show", "cancer:2").stdout

        out = cli("monitors", "create", "cancer-drift", "--endpoint", "cancer-ep", "--every", "1m",
                  "--threshold", "psi=0.2", "--threshold", "worst_texture:psi=0.25", "--output", "json")
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["baseline"] == "cancer:2"
        out = cli("alarms", "create", "cancer-drift-alarm", "--metric", "monitor/cancer-drift/drifted_features",
                  "--above", "0", "--for", "1of1", "--period", "1m", "--statistic", "max", "--missing",
                  "notBreaching", "--action", f"webhook={webhook}", "--action", "rollback")
        assert out.returncode == 0, out.stderr

        # Bad input over REST: a metric that does not exist, a period out of range, a webhook that is not http(s).
        with sqlite_server.http() as http:
            base = {"metric": "endpoint/cancer-ep/p99_ms", "threshold": 50}
            r = http.post("/api/v1/alarms/bad", json={**base, "metric": "endpoint/nope/p99_ms"})
            assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]
            r = http.post("/api/v1/alarms/bad", json={**base, "period": "45s"})
            assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "period"
            r = http.post("/api/v1/alarms/bad", json={**base, "actions": ["webhook=file:///etc/passwd"]})
            assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "action"
            # A per-feature threshold for a feature the baseline does not have: 400 naming it, listing the features.
            r = http.post("/api/v1/monitors/bad", json={"endpoint": "cancer-ep",
                                                        "thresholds": {"mean_radios:psi": 0.1}})
            assert r.status_code == 400 and r.json()["error"]["details"]["value"] == "mean_radios:psi"
            assert "mean_radius" in r.json()["error"]["message"]

        _send(c, X)  # in distribution: the training data itself
        run = c.monitors.run("cancer-drift")
        assert run.status == "Completed" and run.rows == len(X) and run.drifted_features == []
        _until(lambda: c.alarms.get("cancer-drift-alarm").state == "OK", "the alarm to be OK")

        shifted = X.copy()
        shifted["mean_radius"] *= 1.6
        shifted["worst_texture"] += 15
        _send(c, shifted)
        out = cli("monitors", "run", "cancer-drift", "--now", "--output", "json")
        assert out.returncode == 0, out.stderr
        assert sorted(json.loads(out.stdout)["drifted_features"]) == ["mean_radius", "worst_texture"]

        alarm = _until(lambda: (a := c.alarms.get("cancer-drift-alarm")).state == "ALARM" and a, "ALARM")
        assert "breach" in alarm.state_reason
        event = _until(lambda: [e for e in _Hook.received if e["state"] == "ALARM"], "the webhook")[0]
        assert event["alarm"] == "cancer-drift-alarm" and event["previous_state"] == "OK"
        rollback = next(x for x in alarm.history[0].actions if x["kind"] == "rollback")
        assert rollback["ok"], rollback
        _until(lambda: (c.endpoints.get("cancer-ep").live or {}).get("variants", [{}])[0].get("model") == "cancer:1",
               "the rollback to cancer:1")

        shown = cli("monitors", "show", "cancer-drift").stdout
        assert "mean_radius" in shown and "DRIFT" in shown and "0.25 (feature)" in shown, shown
        shown = _until(lambda: (out := cli("alarms", "show", "cancer-drift-alarm").stdout).count("webhook: ok") == 2
                       and out, "both webhooks recorded as delivered")
        assert "ALARM since" in shown and "rollback: ok" in shown, shown
        listed = json.loads(cli("alarms", "list", "--output", "json").stdout)
        assert [a["state"] for a in listed] == ["ALARM"]

    # The dashboard: the monitor page with its per-feature table and charts, the alarm page with its history.
    with sqlite_server.http() as http:
        page = http.get("/ui/monitors/cancer-drift").text
        assert "mean_radius" in page and "drift</span>" in page and page.count("<svg") >= 3  # over time + distributions
        assert "(feature)</span>" in page  # worst_texture's own threshold
        page = http.get("/ui/alarms/cancer-drift-alarm").text
        assert "rolled back cancer-ep" in page and "<svg" in page and "ALARM" in page
        assert "cancer-drift-alarm" in http.get("/ui/alarms").text and "cancer-drift" in http.get("/ui/monitors").text
        # Prometheus: the alarm's state and the monitor's drifted features.
        metrics = http.get("/metrics").text
        assert 'slipway_alarm_state{alarm="cancer-drift-alarm",state="ALARM"} 1.0' in metrics
        assert 'slipway_monitor_drifted_features{monitor="cancer-drift"} 2.0' in metrics
