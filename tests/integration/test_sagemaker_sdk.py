"""The SageMaker Python SDK v2, unmodified, against a real server (issue #14, flow 2).

The SDK is configured only as a user would: ``AWS_ENDPOINT_URL`` (plus an AWS key made with
``slipway keys create --aws``) and a default bucket. It trains a script-mode SKLearn estimator with
logs, deploys and predicts, tunes two trials, deletes the endpoint, and trains and serves SageMaker's
built-in XGBoost image (answering the container's bare scores) and runs a batch transform with it. Every answer botocore parses is checked against the operation's output shape.
Timings of fit/deploy are printed (``-s``), never asserted.

Needs ``sagemaker<3`` (skipped without it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sagemaker = pytest.importorskip("sagemaker", reason="needs the SageMaker Python SDK v2 (pip install 'sagemaker<3')")

import boto3  # noqa: E402
import numpy as np  # noqa: E402

from tests.support.servers import SlipwayServer  # noqa: E402

pytestmark = pytest.mark.filterwarnings(  # the SDK's own notices, not Slipway's
    "ignore::sagemaker.deprecations.SageMakerV2DeprecationWarning")

ROLE = "arn:aws:iam::111122223333:role/x"
BUCKET = "sdk-bucket"

ENTRY_POINT = '''\
import argparse, os
import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--C", type=float, default=1.0)
    p.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    p.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    args, _ = p.parse_known_args()
    df = pd.concat(pd.read_csv(os.path.join(args.train, f)) for f in sorted(os.listdir(args.train)))
    model = LogisticRegression(C=args.C).fit(df[["x1", "x2"]], df["y"])
    print(f"train-accuracy: {model.score(df[['x1', 'x2']], df['y']):.4f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
'''

TIMINGS: dict[str, float] = {}
SERVERS: list[SlipwayServer] = []
SHAPES_CHECKED: list[str] = []


def _check_shape(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    """Every successful answer, as botocore parsed it, is valid for the operation's output shape."""
    from botocore.validate import ParamValidator

    if model.output_shape is None or http_response.status_code >= 300:
        return
    data = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(data, model.output_shape)
    assert not report.has_errors(), f"{model.name}: {report.generate_report()}"
    SHAPES_CHECKED.append(model.name)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A sagemaker.Session on a real server, configured by the endpoint URL and a default bucket only."""
    srv = SlipwayServer(tmp_path_factory.mktemp("sdk") / "home").start()
    SERVERS.append(srv)
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "keys", "create", "--aws", "--output", "json"],
                         capture_output=True, text=True, env=srv.cli_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ENDPOINT_URL": srv.url, "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_ACCESS_KEY_ID": key["key_id"], "AWS_SECRET_ACCESS_KEY": key["key"]}.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            mp.delenv(name, raising=False)
        boto_session = boto3.Session()
        boto_session.events.register("after-call", _check_shape)
        yield sagemaker.Session(boto_session=boto_session, default_bucket=BUCKET)
    srv.stop()
    print("\nSageMaker SDK timings (s):", json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}))


def _timed(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    TIMINGS[what] = time.perf_counter() - start
    return out


def _train_data(session: Any, tmp_path: Path) -> str:
    rows = "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(60))
    (tmp_path / "train.csv").write_text("x1,x2,y\n" + rows)
    return session.upload_data(str(tmp_path / "train.csv"), key_prefix="sklearn/train")


def test_sklearn_fit_deploy_predict_tune(session: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sagemaker.sklearn import SKLearn
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner

    assert session.default_bucket() == BUCKET
    train = _train_data(session, tmp_path)
    assert train == f"s3://{BUCKET}/sklearn/train/train.csv"
    (tmp_path / "train.py").write_text(ENTRY_POINT)
    est = SKLearn(entry_point=str(tmp_path / "train.py"), framework_version="1.2-1", role=ROLE,
                  instance_type="ml.m5.large", hyperparameters={"C": 0.5}, sagemaker_session=session,
                  metric_definitions=[{"Name": "train:accuracy", "Regex": "train-accuracy: ([0-9.]+)"}])
    _timed("sklearn fit", est.fit, {"train": train}, logs=True)
    assert "train-accuracy:" in capsys.readouterr().out  # fit(logs=True) streamed the job's output
    job = session.describe_training_job(est.latest_training_job.name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")

    predictor = _timed("sklearn deploy", est.deploy, 1, "ml.m5.large")
    try:
        out = predictor.predict(np.array([[1.0, 2.0], [6.0, 0.0]]))
        assert np.asarray(out).shape == (2,) and set(np.asarray(out).tolist()) <= {0, 1}
    finally:
        predictor.delete_endpoint()
    session.sagemaker_client.get_waiter("endpoint_deleted").wait(EndpointName=predictor.endpoint_name,
                                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})

    tuner = HyperparameterTuner(est, "train:accuracy", {"C": ContinuousParameter(0.01, 10)},
                                metric_definitions=[{"Name": "train:accuracy", "Regex": "train-accuracy: ([0-9.]+)"}],
                                max_jobs=2, max_parallel_jobs=2)
    _timed("sklearn tune (2 trials)", tuner.fit, {"train": train})
    d = tuner.describe()
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 2
    assert tuner.best_training_job() in {j["TrainingJobName"] for j in tuner.analytics().training_job_summaries()}
    assert {"CreateTrainingJob", "DescribeTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint",
            "DescribeEndpoint", "CreateHyperParameterTuningJob", "DescribeHyperParameterTuningJob",
            "GetLogEvents", "PutObject"} <= set(SHAPES_CHECKED)


def test_builtin_xgboost_trains_and_serves(session: Any, tmp_path: Path) -> None:
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer

    rows = "".join(f"{int(i % 7 > 3)},{i % 7},{(i * 3) % 5}\n" for i in range(60))  # headerless, target first
    (tmp_path / "xgb.csv").write_text(rows)
    train = session.upload_data(str(tmp_path / "xgb.csv"), key_prefix="xgb/train")
    image = sagemaker.image_uris.retrieve("xgboost", "us-east-1", "1.7-1")
    est = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                    output_path=f"s3://{BUCKET}/xgb/output", sagemaker_session=session)
    est.set_hyperparameters(objective="binary:logistic", num_round=10, max_depth=3)
    _timed("xgboost fit", est.fit, {"train": TrainingInput(train, content_type="text/csv")}, logs=False)
    predictor = _timed("xgboost deploy", est.deploy, 1, "ml.m5.large", serializer=CSVSerializer())
    try:
        # As SageMaker's XGBoost container answers binary:logistic: one bare score per line
        scores = [float(v) for v in predictor.predict([[1, 2], [6, 0]]).decode().split("\n")]
        assert len(scores) == 2 and scores[0] < 0.5 < scores[1], scores
    finally:
        predictor.delete_endpoint()

    # Batch transform with the SDK's Transformer: the .out object holds one score per input line
    (tmp_path / "batch.csv").write_text("1,2\n6,0\n5,1\n")
    batch = session.upload_data(str(tmp_path / "batch.csv"), key_prefix="xgb/batch")
    transformer = est.transformer(1, "ml.m5.large", output_path=f"s3://{BUCKET}/xgb/batch-out",
                                  assemble_with="Line", accept="text/csv")
    _timed("xgboost transform", transformer.transform, batch, content_type="text/csv", split_type="Line",
           wait=True, logs=False)
    out = session.read_s3_file(BUCKET, "xgb/batch-out/batch.csv.out")
    scores = [float(v) for v in out.split()]
    assert len(scores) == 3 and scores[0] < 0.5 < min(scores[1:]), out
    job = session.sagemaker_client.describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
    assert job["TransformJobStatus"] == "Completed" and job["TransformOutput"]["AssembleWith"] == "Line"

def test_dataset_version_is_an_s3_input(session: Any, tmp_path: Path) -> None:
    """A Slipway dataset version, read through the bucket slipway-datasets: downloaded and trained on as is."""
    from sagemaker.inputs import TrainingInput
    from sagemaker.s3 import S3Downloader
    from sagemaker.sklearn import SKLearn

    from slipway.client import Client

    data = tmp_path / "data"
    data.mkdir()
    for part in (1, 2):
        rows = "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(part * 30, part * 30 + 30))
        (data / f"part-{part}.csv").write_text("x1,x2,y\n" + rows)
    with Client(url=SERVERS[0].url, home=SERVERS[0].home) as c:
        ref = c.datasets.push("sdk-rows", data, format="files").version.ref
        uri = f"s3://slipway-datasets/{ref.replace(':', '/')}/"
        got = S3Downloader.download(uri, str(tmp_path / "down"), sagemaker_session=session)
        assert sorted(Path(p).name for p in got) == ["part-1.csv", "part-2.csv"]
        assert (tmp_path / "down" / "part-2.csv").read_text() == (data / "part-2.csv").read_text()
        (tmp_path / "train.py").write_text(ENTRY_POINT)
        est = SKLearn(entry_point=str(tmp_path / "train.py"), framework_version="1.2-1", role=ROLE,
                      instance_type="ml.m5.large", sagemaker_session=session)
        _timed("sklearn fit on a dataset version", est.fit, {"train": TrainingInput(uri)}, logs=False)
        job = session.describe_training_job(est.latest_training_job.name)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        assert c.jobs.get(job["TrainingJobName"]).inputs == {"train": ref}  # the version itself, not a copy
