"""Baselines, drift monitors and alarms as services: a real platform on a temp home, captured requests
through the real capture buffer, an injected clock for schedules and alarm periods."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest

from slipway.errors import InvalidArgument, NotFound
from slipway.schemas import VariantSpec
from slipway.services import Platform
from tests.support.models import cancer_data, write_cancer_artifact


@pytest.fixture
def setup(platform: Platform, tmp_path: Path) -> Platform:
    X, y = cancer_data()
    csv = tmp_path / "cancer.csv"
    X.assign(diagnosis=y).to_csv(csv, index=False)
    platform.datasets.push("cancer", csv, filename="cancer.csv", label="diagnosis")
    platform.registry.register("cancer", write_cancer_artifact(tmp_path / "m1"), onnx=False)
    platform.endpoints.create("cancer-ep", [VariantSpec(name="primary", model="cancer:1")])
    return platform


def _send(p: Platform, rows: list[list[float]]) -> None:
    for i in range(0, len(rows), 100):
        p.capture_buffer.offer("cancer-ep", "primary", f"r{i}", "application/json",
                               orjson.dumps({"instances": rows[i:i + 100]}), "application/json", b"{}")
    p.capture.flush()


def test_baseline_monitor_and_run_history(setup: Platform) -> None:
    p = setup
    with pytest.raises(InvalidArgument) as e:  # no baseline yet: the error says how to make one
        p.monitors.create("drift", "cancer-ep")
    assert "slipway models baseline cancer:1 --from-dataset" in e.value.message
    b = p.baselines.compute("cancer:1", "cancer:1")
    assert (b.status, b.dataset, b.rows, b.features) == ("Ready", "cancer:1", 569, 30)  # the label is left out
    full = p.baselines.get("cancer:1")
    assert full.statistics and full.statistics["features"][0]["name"] == "mean_radius"
    assert full.constraints and full.constraints["monitoring_config"]["evaluate_constraints"] == "Enabled"

    now = dt.datetime.now(dt.UTC)
    m = p.monitors.create("drift", "cancer-ep", every="1m", window="1h", thresholds=["psi=0.25"], user="me")
    assert (m.baseline, m.every_seconds, m.thresholds) == ("cancer:1", 60, {"psi": 0.25})
    assert p.monitors.due(now) == [] and p.monitors.due(now + dt.timedelta(seconds=61)) == ["drift"]
    assert p.monitors.run("drift", now).status == "NoData"

    X, _ = cancer_data()
    _send(p, X.to_numpy().tolist())
    same = p.monitors.run("drift", dt.datetime.now(dt.UTC))
    assert same.status == "Completed" and same.rows == 569 and same.drifted_features == []
    shifted = X.copy()
    shifted["mean_radius"] *= 1.6
    shifted["worst_texture"] += 15
    _send(p, shifted.to_numpy().tolist())
    run = p.monitors.run("drift", dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    assert run.rows == 2 * 569 and sorted(run.drifted_features) == ["mean_radius", "worst_texture"]
    with pytest.raises(NotFound) as nf:  # a feature the baseline does not have is a metric that does not exist
        p.alarms.create("x", "monitor/drift/no_such_feature/psi", 0.2)
    assert "has no feature 'no_such_feature'" in nf.value.message
    assert p.alarms.create("x", "monitor/drift/mean_radius/psi", 0.2).metric == "monitor/drift/mean_radius/psi"
    shown = p.monitors.get("drift")
    assert [r.status for r in shown.runs] == ["Completed", "Completed", "NoData"]
    samples = p.monitors.samples("drift", "drifted_features", now - dt.timedelta(minutes=1),
                                 now + dt.timedelta(minutes=1))
    assert [v for _, v in samples] == [0.0, 2.0]
    assert p.monitors.samples("drift", "mean_radius/psi", now, now + dt.timedelta(minutes=1))[-1][1] >= 0.25


def test_monitor_bad_input(setup: Platform) -> None:
    p = setup
    p.baselines.compute("cancer:1", "cancer:1")
    for kw, field in [({"every": "30s"}, "every"), ({"window": "90d"}, "window"),
                      ({"thresholds": ["psi=-1"]}, "threshold"), ({"thresholds": ["wasserstein=1"]}, "threshold")]:
        with pytest.raises(InvalidArgument) as e:
            p.monitors.create("m", "cancer-ep", **kw)  # type: ignore[arg-type]
        assert e.value.details["field"] == field
    with pytest.raises(NotFound):
        p.monitors.create("m", "no-such-ep")
    # Per-feature thresholds: a feature the baseline does not have (the error lists its features), a statistic
    # of the other kind, a bad number.
    with pytest.raises(InvalidArgument) as e:
        p.monitors.create("m", "cancer-ep", thresholds=["mean_radios:psi=0.1"])
    assert e.value.details["value"] == "mean_radios:psi" and "mean_radius, mean_texture" in e.value.message
    with pytest.raises(InvalidArgument) as e:
        p.monitors.create("m", "cancer-ep", thresholds={"mean_radius:js": 0.1})
    assert "'mean_radius' is numeric: its statistics are psi and ks" in e.value.message
    for bad in (["mean_radius:psi=x"], [":psi=0.1"], ["mean_radius:psi"]):
        with pytest.raises(InvalidArgument) as e:
            p.monitors.create("m", "cancer-ep", thresholds=bad)
        assert e.value.details["field"] == "threshold", bad
    m = p.monitors.create("m", "cancer-ep", thresholds=["psi=0.3", "mean_radius:psi=0.05", "worst_area:ks=0.2"])
    assert m.thresholds == {"psi": 0.3, "mean_radius:psi": 0.05, "worst_area:ks": 0.2}


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []
    fail_first = 0

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
        else:
            _Hook.received.append(orjson.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()
    srv.server_close()


def test_alarm_m_of_n_missing_data_and_webhook_with_retries(setup: Platform, hook: str) -> None:
    p = setup
    t0 = dt.datetime(2026, 12, 2, 12, 0, 30, tzinfo=dt.UTC)
    rec = p.invocation_metrics

    def minute_of(latency_ms: float, minute: dt.datetime) -> None:
        from slipway.db.models import EndpointMetric
        from slipway.monitoring.recorder import BUCKETS_MS

        buckets = [0] * (len(BUCKETS_MS) + 1)
        from bisect import bisect_left
        buckets[bisect_left(BUCKETS_MS, latency_ms)] = 10
        with p.db.session() as s:
            s.add(EndpointMetric(endpoint="cancer-ep", variant="primary", minute=int(minute.timestamp()) // 60,
                                 requests=10, status_2xx=10, status_4xx=0, status_5xx=0,
                                 latency_sum_ms=10 * latency_ms, latency_max_ms=latency_ms, buckets=buckets))

    del rec
    a = p.alarms.create("slow", "endpoint/cancer-ep/p99_ms", 50, datapoints=2, evaluation_periods=3, period="1m",
                        actions=[f"webhook={hook}"])
    assert a.state == "INSUFFICIENT_DATA"
    assert p.alarms.evaluate_one("slow", t0) == 0  # no data: stays INSUFFICIENT_DATA
    minute_of(100, t0 - dt.timedelta(minutes=2))
    minute_of(5, t0 - dt.timedelta(minutes=1))
    assert p.alarms.evaluate_one("slow", t0) == 1
    assert p.alarms.get("slow").state == "OK"  # one breaching of three: fewer than 2
    assert p.alarms.deliver_due(t0) == 1  # the notifier sends the OK
    minute_of(120, t0)
    _Hook.fail_first = 2  # the webhook answers 503 twice, then takes it
    t1 = t0 + dt.timedelta(seconds=1)
    assert p.alarms.evaluate_one("slow", t1) == 1
    got = p.alarms.get("slow")
    assert got.state == "ALARM" and "2 of the last 3 datapoints" in got.state_reason
    assert [(h.from_state, h.to_state) for h in got.history] == [("OK", "ALARM"), ("INSUFFICIENT_DATA", "OK")]
    assert got.history[0].actions[0]["status"] == "pending"  # queued with the state change, not sent by it
    for step in (0.0, 0.5, 1.5):  # tried at once, then after the backoff of 0.5 s and 1 s
        assert p.alarms.deliver_due(t1 + dt.timedelta(seconds=step)) == 1
    action = p.alarms.get("slow").history[0].actions[0]
    assert action["ok"] and action["status"] == "delivered" and "HTTP 204 after 3 tries" in action["detail"]
    assert [r["state"] for r in _Hook.received] == ["OK", "ALARM"]
    assert p.alarms.pending_notifications() == 0

    # Missing data: breaching makes empty periods count against it; notBreaching for it.
    p.alarms.create("quiet", "endpoint/cancer-ep/requests", 1, comparison="below", period="1m", missing="breaching")
    later = t0 + dt.timedelta(hours=1)
    p.alarms.evaluate_one("quiet", later)
    assert p.alarms.get("quiet").state == "ALARM"
    p.alarms.create("calm", "endpoint/cancer-ep/requests", 1, comparison="below", period="1m",
                    missing="notBreaching")
    p.alarms.evaluate_one("calm", later)
    assert p.alarms.get("calm").state == "OK"

    # A webhook that never answers well: the failure is visible in show, the state still changes.
    _Hook.fail_first = 10
    p.alarms.create("flaky", "endpoint/cancer-ep/requests", 1000, period="1m", actions=[f"webhook={hook}"])
    p.alarms.evaluate_one("flaky", t0)
    for step in range(4):
        p.alarms.deliver_due(t0 + dt.timedelta(minutes=step))
    action = p.alarms.get("flaky").history[0].actions[0]
    assert not action["ok"] and action["status"] == "failed" and "after 4 tries (last: HTTP 503)" in action["detail"]
    _Hook.fail_first = 0


def test_deleting_an_endpoint_deletes_its_monitors_and_leaves_its_alarms_without_data(setup: Platform) -> None:
    p = setup
    p.baselines.compute("cancer:1", "cancer:1")
    p.monitors.create("drift", "cancer-ep")
    X, _ = cancer_data()
    _send(p, X.to_numpy().tolist())
    now = dt.datetime.now(dt.UTC)
    p.monitors.run("drift", now)
    p.alarms.create("drifting", "monitor/drift/drifted_features", 0, statistic="max", missing="notBreaching")
    p.alarms.create("busy", "endpoint/cancer-ep/requests", 1e6, missing="notBreaching")
    assert p.alarms.evaluate(now + dt.timedelta(seconds=1)) == 2
    assert [a.state for a in p.alarms.list()] == ["OK", "OK"]

    ep = p.endpoints.delete("cancer-ep", user="me")
    assert "its monitors deleted: drift" in ep.reason
    assert p.monitors.list() == [] and not p.monitors.exists("drift")
    with pytest.raises(NotFound):
        p.monitors.get("drift")
    assert p.alarms.evaluate(now + dt.timedelta(seconds=2)) == 2
    busy, drifting = p.alarms.list()
    assert busy.state == drifting.state == "INSUFFICIENT_DATA"
    assert "Endpoint 'cancer-ep' no longer exists" in busy.state_reason
    assert "Monitor 'drift' no longer exists" in drifting.state_reason
    assert "slipway alarms delete drifting" in drifting.state_reason
    assert p.alarms.evaluate(now + dt.timedelta(seconds=3)) == 0  # stays so, without a new history entry
    assert len(p.alarms.get("busy").history) == 2


class _Hang(BaseHTTPRequestHandler):
    release = threading.Event()
    calls = 0

    def do_POST(self) -> None:  # noqa: N802
        _Hang.calls += 1
        _Hang.release.wait(30)  # never answers while the test runs

    def log_message(self, *args: object) -> None:
        pass


def test_a_hanging_webhook_is_tried_by_the_notifier_not_the_evaluation(setup: Platform, hook: str) -> None:
    p = setup
    _Hang.release.clear()
    _Hang.calls = 0
    hang = ThreadingHTTPServer(("127.0.0.1", 0), _Hang)
    hang.daemon_threads = True
    threading.Thread(target=hang.serve_forever, daemon=True).start()
    try:
        p.alarms.webhook_timeout = 0.2  # the notifier's per-try timeout (3 s by default)
        hanging = f"http://127.0.0.1:{hang.server_address[1]}/hook"
        p.alarms.create("quiet", "endpoint/cancer-ep/requests", 1, comparison="below", period="1m",
                        missing="breaching", actions=[f"webhook={hanging}", f"webhook={hook}"])
        t0 = dt.datetime(2026, 12, 2, 12, 0, 30, tzinfo=dt.UTC)
        assert p.alarms.evaluate_one("quiet", t0) == 1  # to ALARM, with nobody called yet
        assert _Hang.calls == 0 and _Hook.received == []
        assert [x["status"] for x in p.alarms.get("quiet").history[0].actions] == ["pending", "pending"]
        assert p.alarms.deliver_due(t0) == 2  # the hanging one times out, the other is delivered
        first, second = p.alarms.get("quiet").history[0].actions
        assert second["ok"] and second["status"] == "delivered" and [e["state"] for e in _Hook.received] == ["ALARM"]
        assert first["status"] == "pending" and "try 1: ReadTimeout" in first["detail"], first
        for step in (0.5, 1.5, 3.5):  # the backoff steps; the fourth try is the last
            assert p.alarms.deliver_due(t0 + dt.timedelta(seconds=step)) == 1
        first = p.alarms.get("quiet").history[0].actions[0]
        assert not first["ok"] and first["status"] == "failed" and "after 4 tries (last: ReadTimeout" in first["detail"]
        assert _Hang.calls == 4 and p.alarms.pending_notifications() == 0
        assert p.alarms.get("quiet").state == "ALARM"
    finally:
        _Hang.release.set()
        hang.shutdown()
        hang.server_close()


def test_alarm_bad_input(setup: Platform) -> None:
    p = setup
    cases = [
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, period="45s"), "period"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, period="2d"), "period"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=float("inf")), "threshold"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, datapoints=4, evaluation_periods=3), "for"),
        (dict(metric="endpoint/cancer-ep/latency", threshold=1), "metric"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, actions=["webhook=ftp://example.com/x"]), "action"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, actions=["webhook=not a url"]), "action"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, actions=["page-someone"]), "action"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, statistic="median"), "statistic"),
        (dict(metric="endpoint/cancer-ep/p99_ms", threshold=1, missing="zero"), "missing"),
    ]
    for kw, field in cases:
        with pytest.raises(InvalidArgument) as e:
            p.alarms.create("bad", **kw)  # type: ignore[arg-type]
        assert e.value.details["field"] == field, kw
    for metric in ("endpoint/no-such/p99_ms", "monitor/no-such/drifted_features"):
        with pytest.raises(NotFound) as nf:
            p.alarms.create("bad", metric, 1)
        assert "does not exist" in nf.value.message


def test_models_registered_from_a_job_get_a_baseline_from_their_training_channel(setup: Platform,
                                                                                  tmp_path: Path) -> None:
    p = setup
    v = p.registry.register_from_job("cancer", "train-job", write_cancer_artifact(tmp_path / "m2"), onnx=False,
                                     extra_lineage={"datasets": {"train": "cancer:1"}})
    assert p.baselines.find(v.ref) is None  # registration does not compute it: the controller does
    assert p.baselines.missing() == ["cancer:2"]
    assert p.baselines.compute_pending() == 1
    b = p.baselines.find("cancer:2")
    assert b is not None and (b.status, b.dataset, b.rows) == ("Ready", "cancer:1", 569)
    assert p.baselines.missing() == []
    p.registry.register_from_job("cancer", "train-job", write_cancer_artifact(tmp_path / "m3"), onnx=False,
                                 extra_lineage={"datasets": {"train": "gone:1"}})
    p.baselines.compute_pending()
    failed = p.baselines.find("cancer:3")
    assert failed is not None and failed.status == "Failed" and "gone" in failed.reason
    assert p.baselines.missing() == []  # a failure is not retried on every pass
