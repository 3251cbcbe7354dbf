"""Script-mode models served as SageMaker's framework containers serve them: real server, jobs and replicas.

The scripts follow the published SageMaker examples' conventions (handlers in train.py beside
``if __name__ == "__main__"``, SM_* variables, headerless CSV with the label first, the notebooks'
content types); they are our own, written for these tests.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slipway.client import Client
from slipway.errors import InvalidArgument, JobFailed, ModelError, UnsupportedMediaType
from tests.support.servers import SlipwayServer

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)

SKLEARN_TRAIN = """
import argparse, json, os
from io import StringIO

import joblib
import numpy as np
import pandas as pd
from sagemaker_training import environment  # the toolkit SageMaker's containers ship, imported by the replica too
from sklearn.tree import DecisionTreeClassifier


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def input_fn(request_body, request_content_type):
    if request_content_type == "text/csv":
        return pd.read_csv(StringIO(request_body), header=None).values
    if request_content_type == "application/json":
        return np.array(json.loads(request_body))
    raise ValueError(f"Unsupported content type: {request_content_type}")


def predict_fn(input_data, model):
    if np.isnan(input_data).any():
        raise ValueError("a feature is missing (NaN)")
    return model.predict(input_data)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_leaf_nodes", type=int, default=-1)
    parser.add_argument("--n-jobs", type=int, default=environment.Environment().num_cpus)
    parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    args = parser.parse_args()
    files = [os.path.join(args.train, f) for f in os.listdir(args.train)]
    data = pd.concat([pd.read_csv(f, header=None) for f in files])
    y, X = data.iloc[:, 0], data.iloc[:, 1:]
    clf = DecisionTreeClassifier(max_leaf_nodes=args.max_leaf_nodes, random_state=0).fit(X, y)
    joblib.dump(clf, os.path.join(args.model_dir, "model.joblib"))
"""

XGBOOST_TRAIN = """
import argparse, os

import numpy as np
import xgboost as xgb

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--num_round", type=int)
    parser.add_argument("--max_depth", type=int, default=3)
    parser.add_argument("--eta", type=float, default=0.3)
    parser.add_argument("--objective", type=str, default="binary:logistic")
    parser.add_argument("--model_dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()
    path = os.path.join(args.train, os.listdir(args.train)[0])
    data = np.loadtxt(path, delimiter=",")
    dtrain = xgb.DMatrix(data[:, 1:], label=data[:, 0])
    params = {"max_depth": args.max_depth, "eta": args.eta, "objective": args.objective}
    booster = xgb.train(params, dtrain, num_boost_round=args.num_round)
    booster.save_model(os.path.join(args.model_dir, "xgboost-model"))
"""

# As SageMaker's XGBoost script examples do: the container's own modules read the channels, a pickled Booster.
XGBOOST_CONTAINER_TRAIN = """
import argparse, json, os, pickle

import xgboost as xgb
from sagemaker_containers import entry_point
from sagemaker_xgboost_container import distributed
from sagemaker_xgboost_container.data_utils import get_dmatrix


def _xgb_train(params, dtrain, evals, num_boost_round, model_dir, is_master):
    booster = xgb.train(params=params, dtrain=dtrain, evals=evals, num_boost_round=num_boost_round)
    if is_master:
        pickle.dump(booster, open(model_dir + "/xgboost-model", "wb"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_depth", type=int)
    parser.add_argument("--eta", type=float)
    parser.add_argument("--objective", type=str)
    parser.add_argument("--num_round", type=int)
    parser.add_argument("--model_dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--validation", type=str, default=os.environ.get("SM_CHANNEL_VALIDATION"))
    parser.add_argument("--sm_hosts", type=str, default=os.environ.get("SM_HOSTS"))
    parser.add_argument("--sm_current_host", type=str, default=os.environ.get("SM_CURRENT_HOST"))
    args, _ = parser.parse_known_args()
    dtrain = get_dmatrix(args.train, "libsvm")
    dval = get_dmatrix(args.validation, "libsvm")
    params = {"max_depth": args.max_depth, "eta": args.eta, "objective": args.objective}
    train_args = dict(params=params, dtrain=dtrain, evals=[(dtrain, "train")], num_boost_round=args.num_round,
                      model_dir=args.model_dir)
    hosts = json.loads(args.sm_hosts)
    if len(hosts) > 1:
        entry_point._wait_hostname_resolution()
        distributed.rabit_run(exec_fun=_xgb_train, args=train_args, include_in_training=True, hosts=hosts,
                              current_host=args.sm_current_host, update_rabit_args=True)
    else:
        assert dval is None  # no validation channel
        _xgb_train(is_master=True, **train_args)


def model_fn(model_dir):
    return pickle.load(open(os.path.join(model_dir, "xgboost-model"), "rb"))
"""


def headerless_csv(path: Path, rows: int = 80) -> tuple[Path, np.ndarray]:
    """Label first, four features, no header: what the SageMaker notebooks upload."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).round(3)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(",".join([str(v), *map(str, r)]) for v, r in zip(y, x)) + "\n")
    return path, x


@pytest.fixture
def c(sqlite_server: SlipwayServer) -> Iterator[Client]:
    with Client(url=sqlite_server.url, home=sqlite_server.home) as client:
        yield client


def script(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(textwrap.dedent(text))
    return folder


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_sklearn_handlers_in_train_py_serve_like_the_container(c: Client, tmp_path: Path) -> None:
    data, x = headerless_csv(tmp_path / "data" / "train.csv")
    c.datasets.push("sk-train", data)
    job = c.jobs.create("sk-script", script="train.py", source_dir=script(tmp_path / "src", SKLEARN_TRAIN),
                        data={"train": "sk-train:1"}, hyperparameters={"max_leaf_nodes": 8}).wait(timeout=300)
    assert job.status == "Completed", job.failure_reason
    model = c.models.register("sk-script", "sk-model")
    assert model.problem_type in (None, "binary_classification")  # unknown is an answer, not a refusal
    assert c.endpoints.deploy("sk-ep", model.ref).status == "InService"

    expected = (x[:3, 0] + x[:3, 1] > 0).astype(int).tolist()
    # JSON in, bare array out; curl's and requests' Accept: */* is JSON.
    assert c.endpoints.invoke("sk-ep", x[:3].tolist(), accept="*/*") == expected
    rows = "\n".join(",".join(map(str, r)) for r in x[:3])
    assert c.endpoints.invoke("sk-ep", data=rows, content_type="text/csv", accept="text/csv") == \
        "".join(f"{v}\n" for v in expected)
    answer = c.endpoints.invoke_raw("sk-ep", rows, "text/csv", "application/x-npy")
    assert answer.headers["content-type"] == "application/x-npy"
    assert np.load(io.BytesIO(answer.content)).tolist() == expected
    # The script's input_fn refuses a type: 415 naming it. Its predict_fn raises: 500 with its message.
    with pytest.raises(UnsupportedMediaType, match="application/x-yaml"):
        c.endpoints.invoke("sk-ep", data="a: 1", content_type="application/x-yaml")
    with pytest.raises(ModelError, match="predict_fn failed: ValueError: a feature is missing"):
        c.endpoints.invoke("sk-ep", data="nan,1,2,3", content_type="text/csv")
    assert c.endpoints.invoke("sk-ep", x[:1].tolist()) == expected[:1]  # the replica is still there


def test_xgboost_script_model_serves_scores_with_the_container_defaults(c: Client, tmp_path: Path) -> None:
    pytest.importorskip("xgboost")
    data, x = headerless_csv(tmp_path / "data" / "train.csv")
    c.datasets.push("xgb-train", data)
    job = c.jobs.create("xgb-script", script="train.py", source_dir=script(tmp_path / "src", XGBOOST_TRAIN),
                        framework="xgboost", data={"train": "xgb-train:1"},
                        hyperparameters={"num_round": 10, "max_depth": 2, "eta": 0.5,
                                         "objective": "binary:logistic"}).wait(timeout=300)
    assert job.status == "Completed", job.failure_reason
    model = c.models.register("xgb-script", "xgb-model")
    assert model.framework == "xgboost"
    assert c.endpoints.deploy("xgb-ep", model.ref).status == "InService"

    rows = "\n".join(",".join(map(str, r)) for r in x[:4])
    # As SageMaker's XGBoost script-mode container answers: one score per CSV line, a bare JSON array.
    scores = [float(v) for v in c.endpoints.invoke("xgb-ep", data=rows, content_type="text/csv",
                                                   accept="text/csv").splitlines()]
    assert len(scores) == 4 and all(0 <= s <= 1 for s in scores)
    assert [s > 0.5 for s in scores] == list(x[:4, 0] + x[:4, 1] > 0)
    assert c.endpoints.invoke("xgb-ep", data=rows, content_type="text/csv") == pytest.approx(scores, abs=1e-6)
    libsvm = "\n".join(" ".join(f"{j}:{v}" for j, v in enumerate(r)) for r in x[:4])
    assert c.endpoints.invoke("xgb-ep", data=libsvm, content_type="text/libsvm") == pytest.approx(scores, abs=1e-6)
    answer = c.endpoints.invoke_raw("xgb-ep", npy(x[:4]), "application/x-npy", "application/x-npy")
    assert np.load(io.BytesIO(answer.content)) == pytest.approx(scores, abs=1e-6)
    with pytest.raises(InvalidArgument, match="The rows have 3 features. Expected 4 features per row"):
        c.endpoints.invoke("xgb-ep", data="1,2,3", content_type="text/csv")
    assert c.endpoints.invoke("xgb-ep", x[:1].tolist()) == pytest.approx(scores[:1], abs=1e-6)

    # The container's own modules (Slipway's stand-ins), a pickled Booster and the entry point's model_fn.
    svm = tmp_path / "svm" / "train.libsvm"
    svm.parent.mkdir()
    y = x[:, 0] * 3 + 1
    svm.write_text("".join(f"{t} " + " ".join(f"{j + 1}:{v}" for j, v in enumerate(r)) + "\n" for t, r in zip(y, x)))
    c.datasets.push("svm-train", svm.parent)
    job = c.jobs.create("xgb-container", script="train.py", framework="xgboost", data={"train": "svm-train:1"},
                        source_dir=script(tmp_path / "src2", XGBOOST_CONTAINER_TRAIN),
                        hyperparameters={"max_depth": "3", "eta": "0.5", "objective": "reg:squarederror",
                                         "num_round": "20"}).wait(timeout=300)
    assert job.status == "Completed", job.failure_reason
    assert c.endpoints.deploy("xgbc-ep", c.models.register("xgb-container", "xgbc-model").ref).status == "InService"
    rows = "\n".join(" ".join(f"{j + 1}:{v}" for j, v in enumerate(r)) for r in x[:3])
    answer = c.endpoints.invoke("xgbc-ep", data=rows, content_type="text/x-libsvm", accept="text/csv")
    assert [float(v) for v in answer.splitlines()] == pytest.approx(y[:3], abs=1.0)


ENV_TRAIN = """
import os, sys
import joblib


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    return {"prefix": sys.prefix, "model": model}


if __name__ == "__main__":
    print("PYTHON", sys.prefix)
    joblib.dump("trained", os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
"""


def test_requirements_serve_the_replicas_in_the_jobs_environment(c: Client, tmp_path: Path) -> None:
    src = script(tmp_path / "src", ENV_TRAIN)
    (src / "requirements.txt").write_text("joblib\n")
    job = c.jobs.create("env-script", script="train.py", source_dir=src).wait(timeout=300)
    assert job.status == "Completed", job.failure_reason
    prefix = "".join(job.logs()).split("PYTHON ", 1)[1].splitlines()[0]
    assert "/envs/" in prefix
    model = c.models.register("env-script", "env-model")
    assert c.endpoints.deploy("env-ep", model.ref).status == "InService"
    assert c.endpoints.invoke("env-ep", [[1]]) == {"prefix": prefix, "model": "trained"}

    bad = script(tmp_path / "bad", ENV_TRAIN)
    (bad / "requirements.txt").write_text("slipway-no-such-package==9.9\n")
    with pytest.raises(JobFailed) as info:  # pip's own words, not a hang
        c.jobs.create("bad-reqs", script="train.py", source_dir=bad).wait(timeout=300)
    reason = info.value.details["failure_reason"]
    assert reason.startswith("Installing requirements.txt failed (pip exited with 1):\nERROR: ")
    assert "No matching distribution found for slipway-no-such-package==9.9" in reason
