"""`slipway train`, `slipway jobs …` and `slipway algorithms …` as a user runs them."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

from slipway.client import Client
from tests.integration.test_training import write_table

Cli = Callable[..., CompletedProcess[str]]


def test_train_and_inspect_jobs_from_the_command_line(cli: Cli, client: Client, tmp_path: Path) -> None:
    assert cli("data", "push", "shapes", str(write_table(tmp_path / "shapes.csv")), "--label", "kind").returncode == 0

    r = cli("train", "--algorithm", "random-forest", "--data", "train=shapes:1", "--hp", "n_estimators=5",
            "--hp", "max_depth=3", "--validation-split", "0.25", "--name", "shapes-rf", "--wait")
    assert r.returncode == 0, r.stderr
    assert "Fitted in" in r.stdout  # the logs, live
    assert "shapes-rf: Completed" in r.stdout and "validation:accuracy" in r.stdout  # then the metrics

    listed = json.loads(cli("jobs", "list", "--output", "json").stdout)
    assert [(j["name"], j["status"]) for j in listed] == [("shapes-rf", "Completed")]
    # list commands print the server's JSON as it is (slipway.sdk.plain): exactly the SDK's typed views, dumped
    assert listed == [v.model_dump(mode="json", by_alias=True) for v in client.jobs.iter()]
    shown = cli("jobs", "show", "shapes-rf")
    assert "Completed" in shown.stdout and "n_estimators" in shown.stdout and "Downloading" in shown.stdout
    metrics = json.loads(cli("jobs", "metrics", "shapes-rf", "-o", "json").stdout)
    assert "validation:roc_auc" in metrics["final"]
    assert "Fitted in" in cli("jobs", "logs", "shapes-rf", "--follow").stdout
    dl = json.loads(cli("jobs", "download", "shapes-rf", str(tmp_path / "dl"), "-o", "json").stdout)
    assert Path(dl["path"]).is_file()

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent("""
        import argparse, os
        p = argparse.ArgumentParser(); p.add_argument("--epochs", type=int); a = p.parse_args()
        for e in range(a.epochs):
            print(f"epoch {e} Test RMSE: {1.0 / (e + 1):.3f}")
        raise SystemExit("diverged after %d epochs" % a.epochs)
    """))
    r = cli("train", "--script", "train.py", "--source-dir", str(src), "--hp", "epochs=3",
            "--metric", "rmse=Test RMSE: ([0-9.]+)", "--name", "diverges", "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "Pending"
    follow = cli("jobs", "logs", "diverges", "--follow")
    assert "epoch 2 Test RMSE: 0.333" in follow.stdout
    failed = json.loads(cli("jobs", "show", "diverges", "-o", "json").stdout)
    assert failed["status"] == "Failed" and "diverged after 3 epochs" in failed["failure_reason"]
    assert failed["final_metrics"] == {"rmse": 0.333}
    series = json.loads(cli("jobs", "metrics", "diverges", "-o", "json").stdout)["series"]["rmse"]
    assert [p["value"] for p in series] == [1.0, 0.5, 0.333]

    bad = cli("train", "--algorithm", "randomforest", "--data", "train=shapes:1")
    assert bad.returncode == 1 and "Did you mean 'random-forest'" in bad.stderr
    assert cli("jobs", "stop", "shapes-rf").returncode == 1


def test_algorithms_are_listed_with_their_hyperparameters(cli: Cli) -> None:
    listed = json.loads(cli("algorithms", "list", "-o", "json").stdout)
    assert {a["name"] for a in listed} >= {"linear-regression", "logistic-regression", "svm", "random-forest",
                                           "gradient-boosting", "knn", "naive-bayes", "kmeans", "pca",
                                           "text-classifier", "mlp"}
    shown = cli("algorithms", "show", "logistic-regression")
    assert shown.returncode == 0 and "(0, inf)" in shown.stdout and "binary" not in shown.stderr
    c = json.loads(cli("algorithms", "show", "logistic-regression", "-o", "json").stdout)
    assert c["problem_types"] == ["classification"]
    assert next(h for h in c["hyperparameters"] if h["name"] == "C") == {
        "name": "C", "type": "float", "default": 1.0, "range": "(0, inf)", "choices": None, "nullable": False,
        "help": "Inverse of the regularisation strength (smaller: stronger)."}
    assert "C" in c["search_space"]
