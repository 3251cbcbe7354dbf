"""`slipway up --demo` loads the demo workspace into a new home, once."""

from __future__ import annotations

import time
from pathlib import Path

from slipway.client import Client
from tests.support.models import first_rows
from tests.support.servers import SlipwayServer


def test_demo_workspace_loads_once(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", extra_args=["--demo"]).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not (srv.home / "demo-loaded").exists():
                time.sleep(0.1)
            names = {d.name: d.latest for d in c.datasets.iter()}
            assert {"demo-cancer", "demo-iris", "demo-diabetes", "demo-digits", "demo-digits-arrays",
                    "demo-reviews"} <= set(names)
            assert (names["demo-cancer"].rows, names["demo-cancer"].label) == (569, "target")
            assert names["demo-reviews"].format == "text-folder"
            assert names["demo-digits"].info["classes"]["7"] > 100
            # A registered model behind a live endpoint.
            model = c.models.get("demo-cancer@production")
            assert model.approval == "Approved" and model.metrics["validation:accuracy"] > 0.9
            assert model.lineage["datasets"]["train"] == "demo-cancer:1"
            assert c.endpoints.wait("demo-cancer").status == "InService"
            out = c.endpoints.invoke("demo-cancer", {"instances": first_rows(1)})
            assert out["predictions"][0]["label"] == "malignant"
            # A trained classifier and a small finished tuning job.
            job = c.jobs.get("demo-cancer-lr").wait(timeout=180)
            assert job.view.status == "Completed" and job.inputs == {"train": "demo-cancer:1"}
            assert job.view.created_by == "demo" and job.metrics["validation:accuracy"] > 0.9
            tune = c.tuning.get("demo-iris-tune").wait(timeout=240).view
            assert tune.status == "Completed" and tune.counters["completed"] == 6
            assert tune.best_trial.objective > 0.8
            # The retraining pipeline, started by each new version of demo-cancer or by the endpoint's drift
            # alarm: split, train, score new and live models on the same test split, canary when it beats it.
            pipeline = c.pipelines.get("demo-retrain")
            assert sorted(t.on for t in pipeline.triggers) == ["alarm:demo-cancer-drifting", "dataset:demo-cancer"]
            assert pipeline.graph["canary"] == ["register"]
            assert sorted(pipeline.graph["beats-live"]) == ["eval-live", "eval-new"]
            steps = {s.name: s for s in pipeline.definition.steps}
            assert steps["prep"].builtin == "split" and steps["eval-live"].model == "endpoint:demo-cancer"
            assert steps["canary"].alarms == ["demo-cancer-errors", "demo-cancer-p99"]
            assert not c.pipelines.runs("demo-retrain")  # nothing runs until triggered
            monitor = c.monitors.get("demo-cancer-drift")
            assert monitor.endpoint == "demo-cancer" and monitor.baseline == "demo-cancer:1"
            alarms = {a.name: a.metric for a in c.alarms.list()}
            assert alarms["demo-cancer-drifting"] == "monitor/demo-cancer-drift/drifted_features"
            assert alarms["demo-cancer-errors"] == "endpoint/demo-cancer/error_rate"
    finally:
        srv.stop()
    # A restart does not load it again.
    srv = SlipwayServer(tmp_path / "home", extra_args=["--demo"]).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            assert all(d.versions == 1 for d in c.datasets.iter())
    finally:
        srv.stop()
