"""The README's five-minute tour, typed as a user would: data → train → register → deploy → invoke → tune."""

from __future__ import annotations

import json
from pathlib import Path


def _cancer_csv(tmp_path: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    path = tmp_path / "cancer.csv"
    frame.to_csv(path, index=False)
    return path


def test_readme_tour(cli, tmp_path: Path) -> None:
    def ok(*args: str) -> str:
        r = cli(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        return r.stdout

    csv = _cancer_csv(tmp_path)
    assert "cancer:1" in ok("data", "push", "cancer", str(csv), "--label", "target")
    job = json.loads(ok("train", "--algorithm", "logistic-regression", "--data", "train=cancer:1", "--hp", "C=0.5",
                        "--validation-split", "0.2", "--name", "cancer-lr", "--register", "cancer", "-o", "json"))
    assert job["status"] == "Completed" and job["registered"]["ref"] == "cancer:1"
    assert job["final_metrics"]["validation:accuracy"] > 0.9
    ok("models", "approve", "cancer:1")
    ok("models", "alias", "cancer", "production", "1")
    shown = json.loads(ok("models", "show", "cancer@production", "-o", "json"))
    assert shown["lineage"]["datasets"] == {"train": "cancer:1"} and shown["lineage"]["job"] == "cancer-lr"

    ok("endpoints", "deploy", "cancer-ep", "--model", "cancer@production")
    row = ",".join(csv.read_text().splitlines()[1].split(",")[:-1])
    out = json.loads(ok("endpoints", "invoke", "cancer-ep", "--data", json.dumps({"instances": [[float(v) for v in
                                                                                                row.split(",")]]})))
    pred = out["predictions"][0]
    assert pred["label"] in ("malignant", "benign") and 0.5 <= pred["confidence"] <= 1
    assert set(pred["probabilities"]) == {"malignant", "benign"}

    tune = json.loads(ok("tune", "--algorithm", "logistic-regression", "--data", "train=cancer:1",
                         "--validation-split", "0.2", "--objective", "validation:accuracy", "--range", "C=0.01:10:log",
                         "--max-trials", "3", "--max-parallel", "1", "--seed", "0", "--name", "cancer-tune",
                         "--wait", "-o", "json"))
    assert tune["status"] == "Completed" and tune["best_trial"]["status"] == "Completed"
    assert json.loads(ok("models", "register", "cancer-tune", "--name", "cancer", "-o", "json"))["ref"] == "cancer:2"
    ok("endpoints", "delete", "cancer-ep")
