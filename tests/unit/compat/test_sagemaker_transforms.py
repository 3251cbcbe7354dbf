"""SageMaker transform jobs through ``handle`` on a real platform: what a request becomes, and the bad input
refused by name (the jobs themselves run in tests/integration/test_sagemaker_boto3.py and _sdk.py)."""

from __future__ import annotations

import io
from typing import Any

from slipway.services import Platform
from tests.support.sagemaker import call, refused


def _request(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TransformJobName": "tx", "ModelName": "m",
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://in-b/data/"}},
                           "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": "s3://out-b/preds", "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
    body.update(overrides)
    return body


def _input(**members: Any) -> dict[str, Any]:
    return {**_request()["TransformInput"], **members}


def test_transform_requests_refused_by_name(platform: Platform) -> None:
    refused(platform, "CreateTransformJob", _request(), match='Could not find model "m"')
    platform.sagemaker_resources.add("model", "m", "m:1", {}, {})
    refused(platform, "CreateTransformJob", _request(), match="in-b.*does not exist")
    platform.buckets.create_bucket("in-b", "admin")
    refused(platform, "CreateTransformJob", _request(), match="No S3 objects found under")
    platform.buckets.put("in-b", "data/a.csv", io.BytesIO(b"1,2\n"), "x", "text/csv", "admin")
    refused(platform, "CreateTransformJob", _request(TransformInput=_input(SplitType="TFRecord")),
            match="'TransformInput.SplitType'.*Expected None or Line")
    refused(platform, "CreateTransformJob", _request(TransformInput=_input(CompressionType="Gzip")),
            match="CompressionType")
    refused(platform, "CreateTransformJob", _request(TransformInput=_input(DataSource={"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": "s3://in-b/m.json"}})), match="Expected S3Prefix")
    refused(platform, "CreateTransformJob", _request(DataProcessing={"InputFilter": "$[1:]"}),
            match="DataProcessing.InputFilter")
    refused(platform, "CreateTransformJob", _request(DataProcessing={"JoinSource": "Input"},
                                                     TransformInput=_input(ContentType="application/json")),
            match="text/csv input split by Line only")
    refused(platform, "CreateTransformJob", _request(TransformJobName="bad_name"), match="regular expression")
    refused(platform, "DescribeTransformJob", {"TransformJobName": "nope"}, code="ResourceNotFound")
    assert call(platform, "ListTransformJobs", {})["TransformJobSummaries"] == []


def test_a_transform_made_with_slipway_describes_and_lists(platform: Platform) -> None:
    from slipway.db.models import TransformJob

    def _add(s: Any) -> None:
        s.add(TransformJob(name="native", model="churn:2", data="churn-test:1", channel="test", output="preds",
                           options={"split": "line", "batch": 1, "parallel": 2, "max_payload_mb": 6.0, "join": False,
                                    "retries": 3}, status="Pending", failure_reason="", rows_total=0, rows_done=0,
                           batches_total=0, batches_done=0, retries=0, stop_requested=False, created_by="admin"))

    platform.db.run(_add)
    d = call(platform, "DescribeTransformJob", {"TransformJobName": "native"})
    assert d["TransformJobStatus"] == "InProgress" and d["ModelName"] == "churn"
    assert d["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://slipway-datasets/churn-test/1"
    assert d["BatchStrategy"] == "SingleRecord" and d["MaxConcurrentTransforms"] == 2
    listed = call(platform, "ListTransformJobs", {"NameContains": "nat"})["TransformJobSummaries"]
    assert [j["TransformJobName"] for j in listed] == ["native"]
    call(platform, "StopTransformJob", {"TransformJobName": "native"})  # Pending: stopped at once
    assert call(platform, "DescribeTransformJob", {"TransformJobName": "native"})["TransformJobStatus"] == "Stopped"
    refused(platform, "StopTransformJob", {"TransformJobName": "native"}, match="already Stopped")
