"""Processing jobs and pipelines through a real server and the CLI: process -> train -> evaluate -> condition ->
register, a cache hit on the second run, bad definitions refused at create with 400."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slipway.client import Client
from slipway.errors import InvalidArgument
from tests.support.servers import SlipwayServer

PREP = """\
import argparse, pathlib
p = argparse.ArgumentParser()
p.add_argument("--src")
p.add_argument("--dst")
a = p.parse_args()
rows = (pathlib.Path(a.src) / "raw.csv").read_text().splitlines()
(pathlib.Path(a.dst) / "clean.csv").write_text("\\n".join(r for r in rows if ",," not in r) + "\\n")
"""

PIPELINE = """\
parameters:
  min_accuracy: {type: float, default: 0.5}
  data: {type: string, default: "reviews-raw:1"}
steps:
  - name: prep
    type: process
    script: prep.py
    source_dir: prep
    inputs: {raw: "{{ params.data }}"}
    outputs: {clean: reviews}
    arguments: [--src, /opt/ml/processing/input/raw, --dst, /opt/ml/processing/output/clean]
  - name: train
    type: train
    algorithm: logistic-regression
    inputs: {train: "{{ steps.prep.outputs.clean }}"}
    label: label
    validation_split: 0.25
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
    model_name: reviews
  - name: too-weak
    type: fail
    message: "validation accuracy below {{ params.min_accuracy }}"
"""


def _cli(server: SlipwayServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                          env=server.cli_env(), timeout=300)


def test_process_then_a_pipeline_from_yaml_runs_end_to_end_and_hits_the_cache(sqlite_server: SlipwayServer,
                                                                             tmp_path: Path) -> None:
    raw = tmp_path / "raw.csv"
    raw.write_text("a,b,label\n" + "".join(f"{i},{(i * 7) % 11},{'yes' if (i * 7) % 11 > 5 else 'no'}\n"
                                          for i in range(40)) + "99,,no\n")
    prep = tmp_path / "prep"
    prep.mkdir()
    (prep / "prep.py").write_text(PREP)
    c = Client(url=sqlite_server.url, home=sqlite_server.home)
    try:
        c.datasets.push("reviews-raw", raw, label="label")
        # A processing job on its own: the output becomes reviews-clean:1.
        r = _cli(sqlite_server, "process", "--script", "prep.py", "--source-dir", str(prep), "--name", "prep-once",
                 "--cpus", "2", "--input", "raw=reviews-raw:1", "--output", "clean=reviews-clean", "--wait", "--output", "json",
                 "--arg=--src", "--arg=/opt/ml/processing/input/raw", "--arg=--dst",
                 "--arg=/opt/ml/processing/output/clean")
        assert r.returncode == 0, r.stderr + r.stdout
        job = json.loads(r.stdout)
        assert job["kind"] == "processing" and job["outputs"] == {"clean": "reviews-clean:1"}
        assert (job["cpus"], job["gpus"]) == (2, None)  # what it asks of a Ray cluster; run here all the same
        assert c.datasets.get("reviews-clean:1").rows == 40
        # A built-in instead of a script; its parameters are checked when it is submitted.
        r = _cli(sqlite_server, "process", "--builtin", "split", "--name", "split-once", "--input",
                 "raw=reviews-raw:1", "--output", "train=reviews-train", "--output", "test=reviews-test",
                 "--param", "test=0.25", "--gpus", "0.5", "--wait", "--output", "json")
        assert r.returncode == 0, r.stderr + r.stdout
        job = json.loads(r.stdout)
        assert job["algorithm"] == "split" and job["outputs"] == {"train": "reviews-train:1", "test": "reviews-test:1"}
        assert job["gpus"] == 0.5
        test = c.datasets.get("reviews-test:1")
        assert (test.rows, c.datasets.get("reviews-train:1").rows, test.label) == (11, 30, "label")  # of 41
        r = _cli(sqlite_server, "process", "--builtin", "scale", "--input", "raw=reviews-raw:1", "--output",
                 "out=reviews-scaled", "--param", "method=log")
        assert r.returncode == 1 and "method='log'" in r.stderr, r.stderr
        r = _cli(sqlite_server, "process", "--builtin", "split", "--input", "raw=reviews-raw:1", "--output",
                 "train=reviews-train", "--cpus", "0")
        assert r.returncode == 1 and "cpus" in r.stderr and "greater than 0" in r.stderr, r.stderr

        (tmp_path / "retrain.yaml").write_text(PIPELINE)
        r = _cli(sqlite_server, "pipelines", "create", "retrain", "-f", str(tmp_path / "retrain.yaml"),
                 "--output", "json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["graph"]["register"] == ["train", "good-enough"]
        r = _cli(sqlite_server, "pipelines", "run", "retrain", "--param", "min_accuracy=0.1", "--wait",
                 "--output", "json")
        assert r.returncode == 0, r.stderr + r.stdout
        run = json.loads(r.stdout)
        steps = {s["name"]: s for s in run["steps"]}
        assert run["status"] == "Succeeded" and run["parameters"] == {"min_accuracy": 0.1, "data": "reviews-raw:1"}
        assert steps["too-weak"]["status"] == "Skipped" and steps["register"]["outputs"] == {"version": "reviews:1"}
        assert c.models.get("reviews:1").source["job"] == steps["train"]["job"]

        second = c.pipelines.run("retrain", {"min_accuracy": 1.5}, wait=True, timeout=240)
        assert second.status == "Failed" and "validation accuracy below 1.5" in (second.failure_reason or "")
        assert second.cache_hits == 2  # prep and train: same inputs, same code
        r = _cli(sqlite_server, "pipelines", "runs", "retrain")
        assert r.returncode == 0 and "Failed" in r.stdout and "Succeeded" in r.stdout

        # The dashboard: the graph with the last run's step states, and the run history.
        with sqlite_server.http() as http:
            page = http.get("/ui/pipelines/retrain")
            assert page.status_code == 200
            assert 'data-step="too-weak" data-status="Failed"' in page.text
            assert 'data-step="prep" data-status="Succeeded"' in page.text and "hit: retrain#1/prep" in page.text
            assert 'href="/ui/pipelines/retrain?run=1"' in page.text
            assert 'data-step="register" data-status="Succeeded"' in http.get("/ui/pipelines/retrain?run=1").text
            assert 'href="/ui/pipelines/retrain"' in http.get("/ui/pipelines").text

        # Bad definitions: 400 at create, naming what is wrong.
        bad = PIPELINE.replace("{{ steps.train.model }}", "{{ steps.trian.model }}", 1)
        (tmp_path / "bad.yaml").write_text(bad)
        r = _cli(sqlite_server, "pipelines", "create", "bad", "-f", str(tmp_path / "bad.yaml"))
        assert r.returncode == 1 and "'trian'" in r.stderr
        spec = {"steps": [{"name": "a", "type": "fail", "depends_on": ["b"]},
                          {"name": "b", "type": "fail", "depends_on": ["a"]}]}
        with pytest.raises(InvalidArgument) as err:
            c.pipelines.create("cyclic", spec)
        assert err.value.status_code == 400 and "a -> b -> a" in err.value.message
    finally:
        c.close()
