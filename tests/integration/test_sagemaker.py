"""The SageMaker control plane against a real server: the server's controllers run the job for real.

Until the HTTP dispatch lands, the operations are called through ``handle`` on a Platform opened on
the server's own home (same database, same encrypted store); the server runs what they create.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator

import pytest

from slipway.compat import object_key
from slipway.services import Platform
from slipway.settings import Settings
from tests.support.sagemaker import call, training_request, upload_training_inputs, wait
from tests.support.servers import SlipwayServer


@pytest.fixture
def sm(sqlite_server: SlipwayServer) -> Iterator[Platform]:
    p = Platform(Settings.load(env={}, home=sqlite_server.home, port=8080))
    yield p
    p.close()


def test_script_mode_job_trains_and_publishes_its_model(sm: Platform) -> None:
    upload_training_inputs(sm, "sm-sklearn")
    call(sm, "CreateTrainingJob", training_request("sm-sklearn"))
    wait(sm, "TrainingJobCompletedOrStopped", TrainingJobName="sm-sklearn")
    d = call(sm, "DescribeTrainingJob", {"TrainingJobName": "sm-sklearn"})
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert {m["MetricName"] for m in d["FinalMetricDataList"]} >= {"train:accuracy"}
    uri = d["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    with tarfile.open(fileobj=io.BytesIO(sm.store.read_bytes(object_key(bucket, key)))) as tar:
        assert "model.joblib" in tar.getnames()
