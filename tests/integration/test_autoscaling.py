"""Autoscaling end to end on one real server: scale to zero, a burst of 100 that wakes it without a failure,
scale out under a load generator and back in after the (short) stable period, the queue's 429 and 503, the
deploy's warning, all from the SDK and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from slipway.client import Client
from slipway.errors import InvalidArgument
from slipway.schemas import VariantSpec
from tests.support.load import Load
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


def _burst(url: str, key: str, n: int) -> list[tuple[int, dict[str, str]]]:
    """``n`` requests at once, each from its own thread and connection; every status with its headers."""
    body = orjson.dumps({"instances": first_rows(1)})
    out: list[tuple[int, dict[str, str]]] = []
    go = threading.Barrier(n)

    def one() -> None:
        with httpx.Client(timeout=120) as http:
            go.wait()
            r = http.post(url, content=body, headers={"Authorization": f"Bearer {key}",
                                                      "Content-Type": "application/json"})
            out.append((r.status_code, dict(r.headers)))

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _replicas(c: Client, name: str) -> int:
    view = c.endpoints.get(name)
    assert view.scaling is not None
    return view.scaling.replicas


def _decided(c: Client, kind: str, since: dt.datetime, desired: int) -> bool:
    """A decision of ``kind`` ("scale out", "scale in") to ``desired`` replicas (out: at least) after ``since``."""
    view = c.endpoints.get("auto-ep")
    assert view.scaling is not None
    return any(d.at > since and d.reason.startswith(kind) and
               (d.desired >= desired if kind == "scale out" else d.desired == desired) for d in view.scaling.decisions)


def test_autoscaling_zero_burst_out_in_queue_limits_and_warning(sqlite_server: SlipwayServer, tmp_path: Path) -> None:
    """One server, one model, two endpoints: the flows share their set-up (see the module docstring)."""
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        _zero_burst_out_and_in(c, sqlite_server)
        _variants_each_on_their_own_load(c, sqlite_server)
    _serverless_queue_limits_and_warning(sqlite_server)


def _zero_burst_out_and_in(c: Client, sqlite_server: SlipwayServer) -> None:
    ep = c.endpoints.deploy("auto-ep", "cancer:1", scaling={
        "min_replicas": 0, "max_replicas": 3, "target_inflight": 1, "scale_in_after": 2, "idle_to_zero": 2})
    assert ep.status == "InService" and ep.warnings == []
    assert ep.scaling is not None and ep.scaling.cold_start_seconds is not None  # the deploy's one replica
    assert ep.scaling.settings.min_replicas == 0 and ep.live["scaling"]["max_replicas"] == 3

    wait_for(lambda: _replicas(c, "auto-ep") == 0, what="idle to zero")
    assert "scale to zero" in c.endpoints.get("auto-ep").scaling.decisions[0].reason

    statuses = [s for s, _ in _burst(ep.url, sqlite_server.admin_key, 100)]
    assert statuses == [200] * 100
    woke = [d for d in c.endpoints.get("auto-ep").scaling.decisions if "queued at zero" in d.reason]
    assert woke and woke[0].inputs["queued"] > 0 and woke[0].replicas == 0

    # A scaling change alone keeps the model and the replicas; min 1 keeps the next part away from zero.
    # The load generator keeps about one request in flight on two cores (the model answers in a millisecond):
    # a quarter of a request per replica as the target makes that load need all three replicas.
    kept = c.endpoints.update("auto-ep", scaling={"min_replicas": 1, "max_replicas": 3, "target_inflight": 0.25,
                                                  "scale_in_after": 2})
    assert kept.live["scaling"]["min_replicas"] == 1 and kept.deployments[0].kind == "update"
    # From one replica: the burst's scale in (or, its idle time having passed, a wake from zero to the new minimum).
    wait_for(lambda: _replicas(c, "auto-ep") == 1 and c.endpoints.get("auto-ep").scaling.desired == 1,
             what="one replica before the load")
    since = c.endpoints.get("auto-ep").scaling.decisions[0].at
    with Load(ep.url, sqlite_server.admin_key, threads=6) as load:
        wait_for(lambda: _decided(c, "scale out", since, 2) and _replicas(c, "auto-ep") >= 2
                 and len(load.statuses) > 0, what="scale out under load")
    assert load.errors == [] and set(load.statuses) == {200}, load.errors[:3]
    wait_for(lambda: _decided(c, "scale in", since, 1) and _replicas(c, "auto-ep") == 1,
             what="scale in after the stable period")
    assert {"load", "in_flight", "queued", "ready", "starting", "target_inflight"} <= set(
        c.endpoints.get("auto-ep").scaling.decisions[0].inputs)

    fixed = c.endpoints.update("auto-ep", fixed=True)
    assert fixed.scaling is None and fixed.live["variants"][0]["model"] == "cancer:1"
    with pytest.raises(InvalidArgument, match="min_replicas 3 is above max_replicas 1"):
        c.endpoints.update("auto-ep", scaling={"min_replicas": 3, "max_replicas": 1})
    c.endpoints.delete("auto-ep")


def _variants_each_on_their_own_load(c: Client, sqlite_server: SlipwayServer) -> None:
    """Two weighted variants, each scaled on its own: both at zero, a burst wakes each (its weight's share of the
    queue), none fails; shown per variant by the CLI and the dashboard."""
    ep = c.endpoints.deploy("two-ep", variants=[VariantSpec(name="a", model="cancer:1", weight=3),
                                                VariantSpec(name="b", model="cancer:1", weight=1)],
                            scaling={"min_replicas": 0, "max_replicas": 2, "target_inflight": 2, "scale_in_after": 2,
                                     "idle_to_zero": 2})
    assert ep.scaling is not None and [(v.name, v.weight) for v in ep.scaling.variants] == [("a", 3), ("b", 1)]
    wait_for(lambda: _replicas(c, "two-ep") == 0, what="both variants idle to zero")
    statuses = [s for s, _ in _burst(ep.url, sqlite_server.admin_key, 40)]
    assert statuses == [200] * 40
    view = c.endpoints.get("two-ep")
    assert view.scaling is not None
    woke = {d.inputs.get("variant") for d in view.scaling.decisions if "scale out 0 ->" in d.reason}
    assert woke == {"a", "b"}, [d.reason for d in view.scaling.decisions]
    assert all(d.reason.startswith(("variant a: ", "variant b: ")) for d in view.scaling.decisions)
    shown = subprocess.run([sys.executable, "-m", "slipway.cli.main", "endpoints", "show", "two-ep"],
                           capture_output=True, text=True, env=sqlite_server.cli_env(), timeout=120)
    assert shown.returncode == 0 and "each scaled on its own load" in shown.stdout, shown.stderr
    with sqlite_server.http() as http:
        page = http.get("/ui/endpoints/two-ep")
        assert page.status_code == 200 and "variant a" in page.text and "weight 3" in page.text
    c.endpoints.delete("two-ep")


def _serverless_queue_limits_and_warning(sqlite_server: SlipwayServer) -> None:
    def slipway(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                              env=sqlite_server.cli_env(), timeout=120)

    # A deadline far under any cold start: the deploy measures one and warns.
    done = slipway("endpoints", "deploy", "cheap-ep", "--model", "cancer:1", "--serverless", "--max-concurrency",
                   "4", "--idle-to-zero", "1s", "--queue-timeout", "0.05", "--queue-size", "1")
    assert done.returncode == 0, done.stderr
    assert "Warning: queue_timeout 0.05 s is shorter than the measured cold start" in " ".join(done.stderr.split())
    shown = json.loads(slipway("endpoints", "show", "cheap-ep", "--output", "json").stdout)
    assert shown["scaling"]["settings"]["min_replicas"] == 0 and shown["scaling"]["settings"]["max_concurrency"] == 4
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        wait_for(lambda: _replicas(c, "cheap-ep") == 0, what="serverless at zero")
        url = c.endpoints.get("cheap-ep").url
        got = _burst(url, sqlite_server.admin_key, 6)  # one waits in the queue of 1, the others overflow
        statuses = sorted(s for s, _ in got)
        assert statuses.count(429) >= 4 and set(statuses) <= {429, 503, 200}
        assert all(h.get("retry-after") for s, h in got if s in (429, 503))
        wait_for(lambda: _replicas(c, "cheap-ep") == 0, what="back to zero")
        [(status, headers)] = _burst(url, sqlite_server.admin_key, 1)
        assert status == 503 and headers["retry-after"]  # 0.05 s is shorter than any cold start
        scaling = c.endpoints.get("cheap-ep").scaling
        assert scaling.queue_overflows >= 4 and scaling.queue_timeouts >= 1
    bad = slipway("endpoints", "update", "cheap-ep", "--target-inflight", "0")
    assert bad.returncode != 0 and "target_inflight" in bad.stderr
    bad = slipway("endpoints", "update", "cheap-ep", "--scale-in-after", "soon")
    assert bad.returncode != 0 and "--scale-in-after 'soon' is not a duration" in bad.stderr
