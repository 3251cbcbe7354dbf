"""Batch transform end to end: temporary replicas, mini-batches in parallel, output equal to in-process
predictions row by row as a new dataset version with lineage, and a bad input that fails the job; folders of
files (a request per file, or per rows of each file) and a job through an autoscaled endpoint at zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from slipway.client import Client
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from tests.support.models import cancer_data, cancer_model, write_cancer_artifact
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


def test_transform_matches_in_process_predictions_and_bad_input_fails(sqlite_server: SlipwayServer,
                                                                      tmp_path: Path) -> None:
    X, y = cancer_data()
    data = X.assign(diagnosis=y)
    data.to_csv(tmp_path / "cancer-test.csv", index=False)
    X.iloc[:, :5].to_csv(tmp_path / "narrow.csv", index=False)  # 5 of the 30 features
    with Client(url=sqlite_server.url, home=sqlite_server.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        c.datasets.push("cancer-test", tmp_path / "cancer-test.csv", label="diagnosis")
        c.datasets.push("narrow", tmp_path / "narrow.csv")

        job = c.transforms.create("t1", "cancer:1", "cancer-test:1", "preds", batch=50, parallel=2, wait=True,
                                  timeout=300)
        assert job.status == "Completed", job.failure_reason
        assert (job.output_version, job.rows_done, job.rows_total, job.batches_total) == ("preds:1", 569, 569, 12)
        out = pd.read_csv(c.datasets.pull("preds:1", tmp_path / "preds.csv"))
        model = cancer_model("lr")
        proba = model.predict_proba(X)
        assert list(out.columns[:31]) == list(data.columns)  # joined: the input rows first, in order
        assert np.allclose(out[X.columns].to_numpy(), X.to_numpy())
        assert list(out["label"]) == list(model.predict(X))  # row by row
        classes = [str(k) for k in model.classes_]
        got = out[[f"probability_{k}" for k in classes]].to_numpy()
        assert np.abs(got - proba).max() < 1e-5
        assert c.datasets.get("preds:1").rows == 569

        with pytest.raises(Conflict, match="transform t1"):  # lineage: the input is used by the job
            c.datasets.delete("cancer-test:1")

        # --no-join: the predictions alone, still in input order.
        bare = c.transforms.create("t2", "cancer:1", "cancer-test:1", "preds", batch=200, join=False, wait=True)
        assert bare.status == "Completed" and bare.output_version == "preds:2"
        only = pd.read_csv(c.datasets.pull("preds:2", tmp_path / "preds2.csv"))
        assert "mean_radius" not in only.columns and list(only["label"]) == list(model.predict(X))

        # The input does not match the model's signature: Failed with the first error and the failing rows.
        bad = c.transforms.create("t3", "cancer:1", "narrow:1", "preds", batch=100, wait=True, timeout=300)
        assert bad.status == "Failed" and bad.output_version is None
        assert "rows 0-99" in bad.failure_reason and "HTTP 400" in bad.failure_reason, bad.failure_reason
        assert bad.failed_rows and set(bad.failed_rows) <= set(range(100))
        assert [d.version for d in c.datasets.versions("preds").items] == [2, 1]  # nothing new
        with sqlite_server.http() as http:  # the dashboard shows the failure and its rows
            page = http.get("/ui/transforms/t3")
            assert page.status_code == 200 and "rows 0-99" in page.text and "failing rows" in page.text
            assert http.get("/ui/transforms/missing").status_code == 404
            assert http.get("/ui/transforms/Bad%20Name").status_code == 400

        with pytest.raises(NotFound):
            c.transforms.create("t4", "nope:1", "cancer-test:1", "preds")
        with pytest.raises(AlreadyExists):
            c.transforms.create("t1", "cancer:1", "cancer-test:1", "preds")
        with pytest.raises(InvalidArgument, match="batch"):
            c.transforms.create("t5", "cancer:1", "cancer-test:1", "preds", batch=0)
        with pytest.raises(NotFound, match="not found"):
            c.transforms.get("missing")
        assert [t.name for t in c.transforms.list().items] == ["t3", "t2", "t1"]
        with pytest.raises(Conflict, match="already Completed"):
            c.transforms.stop("t1")

        _folders(c, tmp_path, X, model)
        _through_an_endpoint(c, tmp_path, X, model)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                              env=sqlite_server.cli_env(), timeout=300)

    # The CLI: --output names the dataset, and --output json (as for every command) the printing.
    run = cli("transform", "cancer:1", "--data", "test=cancer-test:1", "--output", "preds", "--name", "t6",
              "--batch", "300", "--no-join", "--wait", "--output", "json")
    assert run.returncode == 0, run.stderr
    # Byte for byte what t2 wrote with 200-row batches: a dataset keeps one version per content.
    assert json.loads(run.stdout)["status"] == "Completed" and json.loads(run.stdout)["output_version"] == "preds:2"
    shown = cli("transforms", "show", "t3")
    assert shown.returncode == 0 and "Failed" in shown.stdout and "failing input rows" in shown.stdout
    both = cli("transform", "cancer:1", "--data", "cancer-test:1", "--output", "a", "--output", "b")
    assert both.returncode != 0 and "names 2 output datasets" in both.stderr


def _folders(c: Client, tmp_path: Path, X: pd.DataFrame, model: object) -> None:
    """A folder version: one request per file (split none, the default), or each CSV's rows (split line); the
    output is a folder of FILE.out matching the input names."""
    files = tmp_path / "requests"
    (files / "more").mkdir(parents=True)
    (files / "a.json").write_bytes(json.dumps({"instances": X.iloc[:3].to_numpy().tolist()}).encode())
    (files / "more" / "b.json").write_bytes(json.dumps({"instances": X.iloc[3:5].to_numpy().tolist()}).encode())
    c.datasets.push("requests", files)
    job = c.transforms.create("f1", "cancer:1", "requests:1", "file-preds", wait=True, timeout=300)
    assert job.status == "Completed", job.failure_reason
    assert (job.options["split"], job.rows_total, job.batches_total) == ("none", 2, 2)
    out = c.datasets.pull(job.output_version or "", tmp_path / "f1")
    labels = list(model.predict(X.iloc[:5]))  # type: ignore[attr-defined]
    got = [p["label"] for name in ("a.json.out", "more/b.json.out")
           for p in json.loads((out / name).read_bytes())["predictions"]]
    assert got == labels and sorted(p.name for p in out.rglob("*.out")) == ["a.json.out", "b.json.out"]

    tables = tmp_path / "tables"
    tables.mkdir()
    X.iloc[:100].to_csv(tables / "c1.csv", index=False)
    X.iloc[100:150].to_csv(tables / "c2.csv", index=False)
    c.datasets.push("tables", tables)
    job = c.transforms.create("f2", "cancer:1", "tables:1", "table-preds", split="line", batch=40, wait=True,
                              timeout=300)
    assert job.status == "Completed", job.failure_reason
    assert (job.rows_total, job.batches_total) == (150, 5)  # 40+40+20 and 40+10
    out = c.datasets.pull(job.output_version or "", tmp_path / "f2")
    joined = pd.concat([pd.read_csv(out / "c1.csv.out"), pd.read_csv(out / "c2.csv.out")], ignore_index=True)
    assert np.allclose(joined[X.columns].to_numpy(), X.iloc[:150].to_numpy())
    assert list(joined["label"]) == list(model.predict(X.iloc[:150]))  # type: ignore[attr-defined]

    # Split by line reads .csv and .jsonl files only: the job fails naming the file.
    bad = c.transforms.create("f3", "cancer:1", "requests:1", "file-preds", split="line", wait=True, timeout=300)
    assert bad.status == "Failed" and "File 'a.json'" in bad.failure_reason, bad.failure_reason
    assert "cannot be split by line" in bad.failure_reason


def _through_an_endpoint(c: Client, tmp_path: Path, X: pd.DataFrame, model: object) -> None:
    """--endpoint: the job's requests go through an endpoint at zero replicas, wake its autoscaler (they are its
    load) and are answered by its replica; nothing else is started."""
    c.endpoints.deploy("tx-ep", "cancer:1", scaling={"min_replicas": 0, "max_replicas": 2, "target_inflight": 4,
                                                     "idle_to_zero": 1, "queue_timeout": 60})

    def replicas() -> int:
        scaling = c.endpoints.get("tx-ep").scaling
        assert scaling is not None
        return scaling.replicas

    wait_for(lambda: replicas() == 0, what="the endpoint at zero")
    job = c.transforms.create("e1", None, "cancer-test:1", "ep-preds", endpoint="tx-ep", batch=100, wait=True,
                              timeout=300)
    assert job.status == "Completed", job.failure_reason
    assert job.endpoint == "tx-ep" and job.model == "cancer:1"
    out = pd.read_csv(c.datasets.pull(job.output_version or "", tmp_path / "ep-preds"))
    assert list(out["label"]) == list(model.predict(X))  # type: ignore[attr-defined]
    view = c.endpoints.get("tx-ep")
    assert view.scaling is not None
    woke = [d for d in view.scaling.decisions if d.reason.startswith("scale out 0 ->")]
    assert woke and woke[0].inputs["in_flight"] > 0, [d.reason for d in view.scaling.decisions]
    with pytest.raises(InvalidArgument, match="neither was given"):
        c.transforms.create("e2", None, "cancer-test:1", "ep-preds")
    with pytest.raises(InvalidArgument, match="both was given"):
        c.transforms.create("e2", "cancer:1", "cancer-test:1", "ep-preds", endpoint="tx-ep")
    with pytest.raises(NotFound, match="nope-ep"):
        c.transforms.create("e2", None, "cancer-test:1", "ep-preds", endpoint="nope-ep")
    c.endpoints.delete("tx-ep")
