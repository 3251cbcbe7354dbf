"""`slipway up --demo`: the demo workspace comes with a registered model and a live endpoint."""

from __future__ import annotations

from pathlib import Path

from slipway.client import Client
from tests.support.models import first_rows
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for


def test_demo_has_a_live_endpoint(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", extra_args=["--demo"]).start()
    try:
        with Client(url=srv.url) as c:
            wait_for(lambda: (srv.home / "demo-loaded").exists(), timeout=120)
            model = c.models.get("cancer@production")
            assert model.approval == "Approved" and model.metrics["validation:accuracy"] > 0.9
            assert model.lineage["datasets"]["train"] == "cancer:1"
            ep = c.endpoints.wait("cancer")
            assert ep.status == "InService"
            out = c.endpoints.invoke("cancer", {"instances": first_rows(1)})
            assert out["predictions"][0]["label"] == "malignant"
    finally:
        srv.stop()
