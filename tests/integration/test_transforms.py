"""Batch transform end to end: temporary replicas, mini-batches in parallel, output equal to in-process
predictions row by row as a new dataset version with lineage, and a bad input that fails the job."""

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
