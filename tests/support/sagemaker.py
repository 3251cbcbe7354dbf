"""Calling the SageMaker control plane in tests: every answer must fit botocore's output shape."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import pytest

from slipway.compat import object_key
from slipway.compat.errors import AwsError
from slipway.compat.sagemaker import handle
from slipway.compat.sagemaker.shapes import output_errors
from slipway.services import Platform

XGBOOST_IMAGE = "683313683788.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"

TRAIN_SCRIPT = '''\
import argparse, os
import joblib
import pandas as pd
from sklearn.linear_model import LogisticRegression

if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--C", type=float, default=1.0)
    args, _ = p.parse_known_args()
    train = os.environ["SM_CHANNEL_TRAIN"]
    df = pd.concat(pd.read_csv(os.path.join(train, f)) for f in sorted(os.listdir(train)))
    model = LogisticRegression(C=args.C).fit(df[["x1", "x2"]], df["y"])
    print(f"train-accuracy: {model.score(df[['x1', 'x2']], df['y']):.4f}")
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
'''


def call(platform: Platform, operation: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """``handle`` as the HTTP layer calls it, asserting the answer fits the output shape."""
    out = handle(platform, None, operation, body or {})
    problems = output_errors(operation, out)
    assert problems == [], f"{operation} answer does not fit botocore's output shape: {problems}"
    return out


def refused(platform: Platform, operation: str, body: dict[str, Any], code: str = "ValidationException",
            match: str | None = None) -> AwsError:
    with pytest.raises(AwsError, match=match) as info:
        handle(platform, None, operation, body)
    assert info.value.code == code, info.value.message
    return info.value


def put_object(platform: Platform, uri: str, data: bytes) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    platform.store.put_bytes(object_key(bucket, key), data)


def sourcedir(files: dict[str, str]) -> bytes:
    """A sourcedir.tar.gz as the SageMaker SDK packs one."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def training_request(name: str, bucket: str = "sm-bucket", **overrides: Any) -> dict[str, Any]:
    """A CreateTrainingJob body as the SageMaker SDK's SKLearn estimator sends it (JSON-encoded values)."""
    body: dict[str, Any] = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": SKLEARN_IMAGE, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "train:accuracy",
                                                          "Regex": "train-accuracy: ([0-9.]+)"}]},
        "RoleArn": ROLE,
        "HyperParameters": {"C": "0.5", "sagemaker_program": '"train.py"',
                            "sagemaker_submit_directory": f'"s3://{bucket}/{name}/source/sourcedir.tar.gz"',
                            "sagemaker_region": '"us-east-1"', "sagemaker_container_log_level": "20"},
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/data/train", "S3DataDistributionType": "FullyReplicated"}},
            "ContentType": "text/csv"}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    body.update(overrides)
    return body


def upload_training_inputs(platform: Platform, name: str, bucket: str = "sm-bucket") -> None:
    put_object(platform, f"s3://{bucket}/{name}/source/sourcedir.tar.gz", sourcedir({"train.py": TRAIN_SCRIPT}))
    rows = "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(40))
    put_object(platform, f"s3://{bucket}/data/train/part-0.csv", ("x1,x2,y\n" + rows).encode())
    put_object(platform, f"s3://{bucket}/data/train/part-1.csv", ("x1,x2,y\n" + rows).encode())


def wait(platform: Platform, waiter: str, delay: float = 0.5, attempts: int = 600, **kwargs: Any) -> None:
    """Run botocore's own waiter (its acceptors, from its waiter model) over ``handle``'s answers."""
    import botocore.session
    from botocore.waiter import Waiter

    config = botocore.session.get_session().get_waiter_model("sagemaker").get_waiter(waiter)
    operation = config.operation

    def describe(**body: Any) -> dict[str, Any]:
        body.pop("WaiterConfig", None)
        try:
            return call(platform, operation, body)
        except AwsError as exc:
            return {"Error": {"Code": exc.code, "Message": exc.message}}

    Waiter(waiter, config, describe).wait(WaiterConfig={"Delay": delay, "MaxAttempts": attempts}, **kwargs)


def tuning_request(name: str, **config: Any) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob body tuning C of the script in ``training_request``."""
    job = training_request(name)
    definition = {k: job[k] for k in ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
                                      "ResourceConfig", "StoppingCondition")}
    definition["StaticHyperParameters"] = {k: v for k, v in job["HyperParameters"].items() if k != "C"}
    return {"HyperParameterTuningJobName": name, "TrainingJobDefinition": definition,
            "HyperParameterTuningJobConfig": {
                "Strategy": "Random", "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
                "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "train:accuracy"},
                "ParameterRanges": {"ContinuousParameterRanges": [
                    {"Name": "C", "MinValue": "0.01", "MaxValue": "10", "ScalingType": "Logarithmic"}]},
                **config}}


def model_archive() -> bytes:
    """A model.tar.gz holding a fitted scikit-learn estimator as model.joblib."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    est = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]], [0, 1, 0, 1])
    model = io.BytesIO()
    joblib.dump(est, model)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.joblib")
        info.size = len(model.getvalue())
        tar.addfile(info, io.BytesIO(model.getvalue()))
    return buf.getvalue()
