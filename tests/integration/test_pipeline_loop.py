"""The closed loop through a real server, as a user drives it (CLI and SDK): the live endpoint's drift monitor (against
its model's training baseline) sees shifted traffic -> its alarm on drifted features enters ALARM -> the alarm's trigger
starts `retrain` (train, evaluate, condition, register, canary deploy) -> the canary bakes and is promoted; then new
data with a changed schema -> a model the clients' requests no longer fit -> its canary answers errors, the canary's
alarm fires and the endpoint is rolled back. Controllers, jobs, replicas, capture, monitors and alarms are real."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from slipway.client import Client
from slipway.errors import SlipwayError
from tests.support.servers import SlipwayServer

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)

RETRAIN = """\
parameters:
  data: {type: string, default: "loop-data:1"}
  min_accuracy: {type: float, default: 0.6}
steps:
  - name: train
    type: train
    algorithm: logistic-regression
    inputs: {train: "{{ params.data }}"}
    label: label
    validation_split: 0.25
    cache: false                      # a retrain trains again, even on the same data
  - name: evaluate
    type: evaluate
    model: "{{ steps.train.model }}"
  - name: good-enough
    type: condition
    when: {op: ">=", left: "{{ steps.evaluate.metrics['validation:accuracy'] }}", right: "{{ params.min_accuracy }}"}
    then: [register]
    else: [too-weak]
  - name: register
    type: register
    model: "{{ steps.train.model }}"
    model_name: loop
    approval: Approved
  - name: canary
    type: deploy
    endpoint: loop-ep
    model: "{{ steps.register.version }}"
    strategy: canary
    percent: 10
    bake: 25s
    alarms: [loop-canary-4xx, loop-canary-5xx]
  - name: too-weak
    type: fail
    message: "validation accuracy below {{ params.min_accuracy }}"
"""


def _rows(n: int, extra: bool = False) -> str:
    head = "x,y,z,label\n" if extra else "x,y,label\n"
    return head + "".join(f"{i % 10},{(i * 3) % 7}{f',{i % 4}' if extra else ''},{'yes' if i % 10 >= 5 else 'no'}\n"
                          for i in range(n))


def _until(what: str, check: Callable[[], Any], timeout: float = 150.0, state: Callable[[], Any] = str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state()}"
        time.sleep(0.3)


def _cli(server: SlipwayServer, *args: str) -> Any:
    r = subprocess.run([sys.executable, "-m", "slipway.cli.main", *args, "--output", "json"], capture_output=True,
                       text=True, env=server.cli_env(), timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    return json.loads(r.stdout)


def _variants(c: Client, live: bool = False) -> list[tuple[str, str]]:
    ep = c.endpoints.get("loop-ep")
    spec = (ep.live or {}) if live else ep.desired
    return [(v["name"], v["model"]) for v in spec.get("variants", [])]


def test_drift_alarm_retrains_and_promotes_then_a_bad_model_is_rolled_back(sqlite_server: SlipwayServer,
                                                                          tmp_path: Path) -> None:
    srv = sqlite_server
    (tmp_path / "data.csv").write_text(_rows(60))
    (tmp_path / "retrain.yaml").write_text(RETRAIN)
    c = Client(url=srv.url, home=srv.home)
    try:
        c.datasets.push("loop-data", tmp_path / "data.csv", label="label")
        _cli(srv, "pipelines", "create", "retrain", "-f", str(tmp_path / "retrain.yaml"))
        first = _cli(srv, "pipelines", "run", "retrain", "--wait")  # no endpoint yet: created with loop:1
        assert first["status"] == "Succeeded", first
        c.endpoints.wait("loop-ep")
        # The run acted as its owner with the key that started it (whose policy would limit it), in the audit trail.
        [created] = [e for e in c.audit.list(action="endpoints:Create").items if e.method == "PIPELINE"]
        assert (created.user, created.key_id, created.outcome) == ("admin", c.whoami().key_id, "allowed"), created
        # Drift: a monitor of the endpoint's captured requests against loop:1's training data, and an alarm on its
        # drifted features; the canary's own alarms.
        baseline = c.baselines.compute("loop:1")  # from the training data of loop:1's job
        assert (baseline.status, baseline.dataset, baseline.features) == ("Ready", "loop-data:1", 2), baseline
        c.monitors.create("loop-drift", "loop-ep", every="1h")  # run on demand below: `slipway monitors run`
        c.alarms.create("loop-drifting", "monitor/loop-drift/drifted_features", above=0, statistic="max")
        c.alarms.create("loop-canary-4xx", "endpoint/loop-ep/status_4xx", above=0)
        c.alarms.create("loop-canary-5xx", "endpoint/loop-ep/status_5xx", above=0)
        view = _cli(srv, "pipelines", "trigger", "retrain", "--on", "alarm:loop-drifting")
        assert [t["on"] for t in view["triggers"]] == ["alarm:loop-drifting"]

        # The clients' traffic shifts (x far above anything in training) -> the monitor's run finds drift -> ALARM
        # -> a triggered run; it retrains and bakes loop:2 as a canary, then promotes it.
        for i in range(4):
            assert c.endpoints.invoke("loop-ep", {"instances": [[30 + i + j, j % 7] for j in range(10)]})["predictions"]
        drifted = time.monotonic()
        run = _cli(srv, "monitors", "run", "loop-drift")
        assert run["status"] == "Completed" and "x" in run["drifted_features"], run
        second = _until("the triggered run", lambda: next((r for r in c.pipelines.runs("retrain") if r.number == 2),
                                                          None), state=lambda: c.alarms.get("loop-drifting"))
        assert second.started_by.startswith("trigger:alarm:loop-drifting (event ")
        _cli(srv, "pipelines", "trigger", "retrain", "--on", "alarm:loop-drifting", "--off")  # one retrain is enough
        _until("the canary to go live", lambda: ("canary", "loop:2") in _variants(c, live=True),
               state=lambda: (c.pipelines.get_run("retrain", 2), c.endpoints.get("loop-ep")))
        assert c.endpoints.invoke("loop-ep", {"instances": [[7, 2]]}, variant="canary")["predictions"]
        second = c.pipelines.wait("retrain", 2, timeout=150)
        assert second.status == "Succeeded", second
        assert "baked and now takes all" in second.steps[4].message
        assert _variants(c) == [("primary", "loop:2")]
        print(f"drift -> promoted canary: {time.monotonic() - drifted:.1f} s")

        # New data whose schema changed: the model trained on it does not fit the clients' requests.
        _cli(srv, "pipelines", "trigger", "retrain", "--on", "dataset:loop-data", "--param", "data={{ event.ref }}")
        (tmp_path / "data2.csv").write_text(_rows(60, extra=True))
        c.datasets.push("loop-data", tmp_path / "data2.csv", label="label")
        pushed = time.monotonic()
        third = _until("the run of the new version", lambda: next(
            (r for r in c.pipelines.runs("retrain") if r.number == 3), None))
        assert third.parameters["data"] == "loop-data:2"
        _until("the bad canary to go live", lambda: ("canary", "loop:3") in _variants(c, live=True),
               state=lambda: (c.pipelines.get_run("retrain", 3), c.endpoints.get("loop-ep")))
        # The clients keep calling while the canary bakes (the alarms see errors in their current period whatever
        # the second of the minute), and every call the canary gets fails: two features where loop:3 expects three.
        errors, deadline = 0, time.monotonic() + 150
        while not (third := c.pipelines.get_run("retrain", 3)).done:
            try:
                c.endpoints.invoke("loop-ep", {"instances": [[7, 2]]}, variant="canary")
                raise AssertionError("loop:3 answered a request it cannot fit")
            except SlipwayError:
                errors += 1
            assert time.monotonic() < deadline, third
            time.sleep(0.5)
        assert errors >= 1
        print(f"bad data -> rolled-back canary: {time.monotonic() - pushed:.1f} s")
        deploy = third.steps[4]
        assert third.status == "Failed" and deploy.status == "Failed", third
        assert deploy.outputs["rolled_back_by"] in ("loop-canary-4xx", "loop-canary-5xx")
        assert deploy.message.startswith("Canary loop:3 rolled back: alarm 'loop-canary-")
        assert _variants(c) == [("primary", "loop:2")]
        assert c.endpoints.invoke("loop-ep", {"instances": [[7, 2]]})["predictions"]  # loop:2 serves again
        shown = _cli(srv, "pipelines", "show", "retrain", "--run", "3")
        assert shown["failure_reason"].startswith("Step 'canary' failed: Canary loop:3 rolled back")
        with srv.http() as http:
            assert 'data-step="canary" data-status="Failed"' in http.get("/ui/pipelines/retrain?run=3").text
        r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "pipelines", "stop", "retrain", "--run", "3"],
                           capture_output=True, text=True, env=srv.cli_env(), timeout=60)
        assert r.returncode == 1 and "already ended (Failed)" in r.stderr
    finally:
        c.close()
