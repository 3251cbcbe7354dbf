"""Training jobs end to end: real server, real job processes, built-ins and SageMaker-style scripts."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path

import joblib
import pandas as pd
import pytest

from slipway.client import Client
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, JobFailed, NotFound
from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for


def write_table(path: Path, rows: int = 60) -> Path:
    """A small table with a numeric, a categorical and a missing value, and a two-class string label."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["size,colour,weight,kind"]
    for i in range(rows):
        big = i % 2 == 0
        size = "" if i == 3 else f"{(10 + i % 7) if big else (2 + i % 5)}.5"
        lines.append(f"{size},{'red' if big else 'blue' if i % 3 else 'red'},{i % 11},{'big' if big else 'small'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def extract(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def write_script(folder: Path, body: str, name: str = "train.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


def test_builtin_job_trains_evaluates_and_saves_a_model(client: Client, tmp_path: Path) -> None:
    client.datasets.push("shapes", write_table(tmp_path / "shapes.csv"), label="kind")
    job = client.jobs.create("shapes-lr", algorithm="logistic-regression", data={"train": "shapes:1"},
                             hyperparameters={"C": "0.5"}, validation_split=0.25)
    assert job.status == "Pending"
    job.wait(timeout=120)
    assert (job.status, job.secondary_status, job.failure_reason) == ("Completed", "Completed", None)
    assert job.hyperparameters["C"] == 0.5 and job.problem_type == "binary_classification"
    assert [t.status for t in job.transitions] == ["Pending", "Starting", "Downloading", "Training", "Uploading",
                                                   "Completed"]
    for key in ("validation:accuracy", "validation:precision", "validation:recall", "validation:f1",
                "validation:f1:big", "validation:roc_auc", "validation:log_loss", "train:accuracy"):
        assert key in job.metrics, key
    assert job.metrics["validation:accuracy"] > 0.8
    assert "Fitted in" in "".join(job.logs())
    series = job.metric_series()
    assert series.series["validation:accuracy"][0].value == job.metrics["validation:accuracy"]

    model_dir = extract(job.download(tmp_path / "dl"), tmp_path / "model")
    manifest = json.loads((model_dir / "slipway-model.json").read_text())
    assert manifest["framework"] == "sklearn" and manifest["model_file"] == "model.joblib"
    assert manifest["problem_type"] == "binary_classification"
    assert manifest["signature"]["input_kind"] == "tabular"
    assert [i["name"] for i in manifest["signature"]["inputs"]] == ["size", "colour", "weight"]
    assert manifest["signature"]["labels"] == ["big", "small"]
    assert manifest["lineage"]["job"] == "shapes-lr" and manifest["lineage"]["datasets"] == {"train": "shapes:1"}
    assert manifest["metrics"]["validation:accuracy"] == job.metrics["validation:accuracy"]
    report = json.loads((model_dir / "evaluation.json").read_text())
    assert report["validation"]["labels"] == ["big", "small"] and len(report["validation"]["confusion_matrix"]) == 2
    model = joblib.load(model_dir / "model.joblib")
    rows = pd.DataFrame({"size": [12.5, None], "colour": ["red", "green"], "weight": [1, 2]})
    assert list(model.predict(rows))[0] == "big"
    assert model.predict_proba(rows).shape == (2, 2)
    # The training rows (a string column and a missing value too) are kept to verify the ONNX export on,
    # so the registered built-in serves on ONNX Runtime (one input per column).
    samples = json.loads((model_dir / "samples.json").read_text())
    assert len(samples) == 45 and samples[0][1] in ("red", "blue")
    registered = client.models.register("shapes-lr", "shapes")
    assert registered.runtime == "onnxruntime", registered.runtime_reason

    # The dataset version is referenced by the job now.
    with pytest.raises(Conflict, match="used by job shapes-lr"):
        client.datasets.delete("shapes:1")
    assert [v.name for v in client.jobs.list(status="Completed").items] == ["shapes-lr"]

    # Later built-ins take over a process that imported scikit-learn ahead of time; it stops like any other.
    slow = client.jobs.create("shapes-rf", algorithm="random-forest", data={"train": "shapes:1"},
                              hyperparameters={"n_estimators": 10000})
    wait_for(lambda: "Fitting random-forest" in "".join(slow.logs()), what="the forest to start")
    assert "(warm process)" in "".join(slow.logs())
    slow.stop().wait(timeout=60)
    assert (slow.status, slow.failure_reason) == ("Stopped", None)


SM_SCRIPT = """
    import argparse, json, os, sys, time
    import slipway

    parser = argparse.ArgumentParser()
    parser.add_argument("--n_estimators", type=int)
    parser.add_argument("--max_depth", type=int)
    parser.add_argument("--criterion", type=str)
    parser.add_argument("--model_dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--test", type=str, default=os.environ.get("SM_CHANNEL_TEST"))
    args, _ = parser.parse_known_args()

    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    import joblib

    train = pd.read_csv(os.path.join(args.train, "shapes.csv"))
    model = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth, criterion=args.criterion)
    model.fit(train[["weight"]], train["kind"])
    for step in range(3):
        slipway.log_metric("loss", 1.0 / (step + 1), step=step)
    print(f"Test RMSE: {0.25:.2f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    with open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "notes.txt"), "w") as f:
        f.write("extra output")
    with open(os.path.join(os.environ["SM_INPUT_DIR"], "config", "hyperparameters.json")) as f:
        hps_file = json.load(f)
    seen = {
        "argv": sys.argv[1:], "cwd": os.getcwd(), "hps": json.loads(os.environ["SM_HPS"]),
        "hp_env": os.environ["SM_HP_N_ESTIMATORS"], "hps_file": hps_file,
        "channels": json.loads(os.environ["SM_CHANNELS"]), "test_files": sorted(os.listdir(args.test)),
        "model_dir": args.model_dir, "env_model_dir": os.environ["SM_MODEL_DIR"],
        "hosts": json.loads(os.environ["SM_HOSTS"]), "current_host": os.environ["SM_CURRENT_HOST"],
        "num_cpus": int(os.environ["SM_NUM_CPUS"]), "num_gpus": int(os.environ["SM_NUM_GPUS"]),
        "training_env": sorted(json.loads(os.environ["SM_TRAINING_ENV"])),
        "module_dir": os.environ["SM_MODULE_DIR"], "helper": open("helper.txt").read(),
    }
    print("SEEN " + json.dumps(seen))
"""


def test_sagemaker_script_runs_unmodified(client: Client, tmp_path: Path) -> None:
    client.datasets.push("shapes", write_table(tmp_path / "shapes.csv"), label="kind")
    client.datasets.push("shapes-test", write_table(tmp_path / "test" / "shapes.csv", rows=20), label="kind")
    src = write_script(tmp_path / "src", SM_SCRIPT)
    (src / "helper.txt").write_text("from the source folder")
    (src / "code").mkdir()
    (src / "code" / "inference.py").write_text("def model_fn(model_dir):\n    return None\n")
    job = client.jobs.create(
        "rf-script", script="train.py", source_dir=src, data={"train": "shapes:1", "test": "shapes-test:1"},
        hyperparameters={"n_estimators": 5, "max_depth": 3, "criterion": "gini", "model_dir": "/opt/ml/model"},
        metric_definitions={"rmse": r"Test RMSE: ([0-9.]+)"}, label="kind",
    ).wait(timeout=120)
    assert job.status == "Completed", job.failure_reason
    log = "".join(job.logs())
    seen = json.loads(log.split("SEEN ", 1)[1].splitlines()[0])
    assert seen["argv"] == ["--criterion", "gini", "--max_depth", "3", "--model_dir", seen["env_model_dir"],
                            "--n_estimators", "5"]
    assert seen["model_dir"] == seen["env_model_dir"] and seen["model_dir"].endswith("/rf-script/model")
    assert seen["hps"]["n_estimators"] == 5 and seen["hp_env"] == "5"
    assert seen["hps_file"]["n_estimators"] == "5" and seen["hps_file"]["criterion"] == "gini"
    assert seen["channels"] == ["test", "train"] and seen["test_files"] == ["shapes.csv"]
    assert seen["hosts"] == ["algo-1"] and seen["current_host"] == "algo-1" and seen["num_cpus"] >= 1
    assert seen["num_gpus"] >= 0 and seen["helper"] == "from the source folder"
    assert seen["cwd"] == seen["module_dir"]
    assert {"channel_input_dirs", "hyperparameters", "model_dir", "output_data_dir"} <= set(seen["training_env"])
    assert job.metrics["rmse"] == 0.25 and job.metrics["loss"] == pytest.approx(1 / 3)
    assert [p.step for p in job.metric_series().series["loss"]] == [0, 1, 2]

    model_dir = extract(job.download(tmp_path / "dl"), tmp_path / "model")
    assert (model_dir / "code" / "inference.py").is_file()
    manifest = json.loads((model_dir / "slipway-model.json").read_text())
    assert manifest["framework"] == "sklearn" and manifest["model_file"] == "model.joblib"
    assert manifest["lineage"]["code_sha256"] == job.source_sha256
    assert manifest["metrics"]["rmse"] == 0.25
    assert [i["name"] for i in manifest["signature"]["inputs"]] == ["size", "colour", "weight"]
    output = extract(client.jobs.download("rf-script", tmp_path / "out", what="output"), tmp_path / "output")
    assert (output / "notes.txt").read_text() == "extra output"


def test_requirements_are_installed_once_into_a_cached_environment(client: Client, tmp_path: Path) -> None:
    src = write_script(tmp_path / "src", """
        import os, sys, joblib
        print("PYTHON", sys.prefix)
        joblib.dump({"ok": True}, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
    """)
    (src / "requirements.txt").write_text("joblib\n")
    first = client.jobs.create("req-1", script="train.py", source_dir=src).wait(timeout=180)
    second = client.jobs.create("req-2", script="train.py", source_dir=src).wait(timeout=180)
    log1, log2 = "".join(first.logs()), "".join(second.logs())
    assert "Installing requirements.txt" in log1
    assert "Using the cached environment" in log2
    prefix = log2.split("PYTHON ", 1)[1].splitlines()[0]
    assert "/envs/" in prefix


def test_failing_scripts_report_their_own_words(client: Client, tmp_path: Path) -> None:
    raises = write_script(tmp_path / "raises", """
        print("about to fail")
        def load():
            raise ValueError("column 'price' has text in row 7")
        load()
    """)
    job = client.jobs.create("raises", script="train.py", source_dir=raises)
    with pytest.raises(JobFailed, match="column 'price' has text in row 7"):
        job.wait(timeout=120)
    assert job.status == "Failed"
    assert "Traceback (most recent call last)" in job.failure_reason
    assert "ValueError: column 'price' has text in row 7" in job.failure_reason
    assert "ValueError" in "".join(job.logs()) and "about to fail" in "".join(job.logs())

    own = write_script(tmp_path / "own", """
        import os, sys
        with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
            f.write("The input has no rows for 2026.")
        sys.exit(3)
    """)
    job = client.jobs.create("own-reason", script="train.py", source_dir=own)
    with pytest.raises(JobFailed):
        job.wait(timeout=120)
    assert job.failure_reason == "The input has no rows for 2026."

    empty = write_script(tmp_path / "empty", "print('trained, honest')\n")
    job = client.jobs.create("no-model", script="train.py", source_dir=empty)
    with pytest.raises(JobFailed, match="wrote nothing to SM_MODEL_DIR"):
        job.wait(timeout=120)
    assert not job.refresh().model_available
    with pytest.raises(NotFound, match="no model"):
        client.jobs.download("no-model", tmp_path / "dl")

    with pytest.raises(InvalidArgument, match="'missing.py' not found in source folder"):
        client.jobs.create("missing", script="missing.py", source_dir=empty)


def test_missing_script_is_refused_by_the_server(server: SlipwayServer, tmp_path: Path) -> None:
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
        data = b"print('hi')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with server.http() as http:
        sha = http.put("/api/v1/jobs/x/source", content=tar_bytes.getvalue()).json()["sha256"]
        r = http.post("/api/v1/jobs/x", json={"entry_point": "nope.py", "source_sha256": sha})
        none = http.post("/api/v1/jobs/y", json={"entry_point": "train.py", "source_sha256": "0" * 64})
    assert r.status_code == 400 and "Script 'nope.py' not found" in r.json()["error"]["message"]
    assert none.status_code == 400 and "was not uploaded" in none.json()["error"]["message"]


def test_bad_input_gets_clear_errors(client: Client, server: SlipwayServer, tmp_path: Path) -> None:
    client.datasets.push("shapes", write_table(tmp_path / "shapes.csv"), label="kind")
    with pytest.raises(InvalidArgument, match="Unknown algorithm 'logistic-regresion'. Did you mean "
                                              "'logistic-regression'"):
        client.jobs.create(algorithm="logistic-regresion", data={"train": "shapes:1"})
    with pytest.raises(InvalidArgument, match="has no hyperparameter 'c'. Did you mean 'C'"):
        client.jobs.create(algorithm="logistic-regression", data={"train": "shapes:1"}, hyperparameters={"c": 1})
    with pytest.raises(InvalidArgument, match=r"The 'C' hyperparameter of logistic-regression must be a float in the "
                                              r"range \(0, inf\). Got -1 instead."):
        client.jobs.create(algorithm="logistic-regression", data={"train": "shapes:1"}, hyperparameters={"C": -1})
    with pytest.raises(InvalidArgument, match=r"'n_estimators' hyperparameter of random-forest must be an int in the "
                                              r"range \[1, 10000\]. Got 'many' instead."):
        client.jobs.create(algorithm="random-forest", data={"train": "shapes:1"},
                           hyperparameters={"n_estimators": "many"})
    with pytest.raises(NotFound, match="Dataset version 'shapes:7' not found. Versions of 'shapes': 1"):
        client.jobs.create(algorithm="logistic-regression", data={"train": "shapes:7"})
    with pytest.raises(InvalidArgument, match="Label column 'price' not found in shapes:1.*size, colour, weight, kind"):
        client.jobs.create(algorithm="logistic-regression", data={"train": "shapes:1"}, label="price")
    with pytest.raises(InvalidArgument, match="needs a 'train' channel"):
        client.jobs.create(algorithm="logistic-regression", data={"training": "shapes:1"})
    with pytest.raises(InvalidArgument, match="without a group"):
        client.jobs.create(algorithm="logistic-regression", data={"train": "shapes:1"},
                           metric_definitions={"rmse": "RMSE: [0-9.]+"})
    with pytest.raises(InvalidArgument, match="looks continuous"):
        client.jobs.create(algorithm="logistic-regression", data={"train": "shapes:1"}, label="size")
    client.jobs.create("taken", algorithm="naive-bayes", data={"train": "shapes:1"})
    with pytest.raises(AlreadyExists, match="Job 'taken' already exists"):
        client.jobs.create("taken", algorithm="naive-bayes", data={"train": "shapes:1"})
    with server.http() as http:
        dup = http.post("/api/v1/jobs/taken", json={"algorithm": "naive-bayes", "inputs": {"train": "shapes:1"}})
        split = http.post("/api/v1/jobs/z", json={"algorithm": "naive-bayes", "inputs": {"train": "shapes:1"},
                                                  "validation_split": 1.5})
        missing = http.get("/api/v1/jobs/nothing")
        unknown_algo = http.get("/api/v1/algorithms/kmean")
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "already_exists"
    assert split.status_code == 400 and "validation_split" in split.json()["error"]["message"]
    assert missing.status_code == 404 and "slipway jobs list" in missing.json()["error"]["message"]
    assert unknown_algo.status_code == 404 and "Did you mean 'kmeans'" in unknown_algo.json()["error"]["message"]
    # None of the refused jobs exists.
    assert [v.name for v in client.jobs.list().items] == ["taken"]


def test_text_regression_and_clustering_builtins(client: Client, tmp_path: Path) -> None:
    reviews = tmp_path / "reviews"
    for cls, words in {"positive": ["great", "superb", "lovely"], "negative": ["awful", "dull", "boring"]}.items():
        (reviews / cls).mkdir(parents=True)
        for i in range(12):
            (reviews / cls / f"{i}.txt").write_text(f"a {words[i % 3]} film, number {i}")
    client.datasets.push("reviews", reviews)
    houses = tmp_path / "houses.csv"
    houses.write_text("rooms,area,price\n" + "".join(f"{1 + i % 5},{30 + i},{100 + 20 * (i % 5) + i}\n"
                                                      for i in range(40)))
    client.datasets.push("houses", houses, label="price")
    client.datasets.push("houses-val", houses, label="price")
    jobs = [
        client.jobs.create("text", algorithm="text-classifier", data={"train": "reviews:1"}, validation_split=0.25,
                           hyperparameters={"classifier": "linear-svm"}),
        client.jobs.create("ridge", algorithm="linear-regression", data={"train": "houses:1",
                                                                         "validation": "houses-val:1"},
                           hyperparameters={"regularization": "ridge", "alpha": 0.1}),
        client.jobs.create("clusters", algorithm="kmeans", data={"train": "houses:1"},
                           hyperparameters={"n_clusters": 3}),
    ]
    for job in jobs:
        job.wait(timeout=180)
    text, ridge, clusters = jobs
    assert text.problem_type == "binary_classification" and text.metrics["validation:accuracy"] >= 0.5
    assert ridge.problem_type == "regression" and ridge.label == "price"
    assert {"validation:rmse", "validation:mae", "validation:r2"} <= set(ridge.metrics)
    assert ridge.metrics["validation:r2"] > 0.5
    assert clusters.problem_type == "clustering" and "train:silhouette" in clusters.metrics
    clusters_dir = extract(clusters.download(tmp_path / "dl"), tmp_path / "clusters-model")
    signature = json.loads((clusters_dir / "slipway-model.json").read_text())["signature"]
    assert [i["name"] for i in signature["inputs"]] == ["rooms", "area"]  # the label is left out
    model_dir = extract(text.download(tmp_path / "dl"), tmp_path / "text-model")
    manifest = json.loads((model_dir / "slipway-model.json").read_text())
    assert manifest["signature"]["input_kind"] == "text" and manifest["signature"]["labels"] == ["negative",
                                                                                                "positive"]
    model = joblib.load(model_dir / "model.joblib")
    assert list(model.predict(["a superb film", "an awful film"])) == ["positive", "negative"]
