"""boto3 only, over HTTP with SigV4, against a real server: S3 upload, training with botocore's waiter,
model, endpoint in service, sagemaker-runtime invoke, tags, errors, delete.

Needs the AWS dispatch (slipway/compat/dispatch.py, branch ``aws``); skipped where it is not there.
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("slipway.compat.dispatch", reason="needs the AWS dispatch (SigV4, S3, runtime)")

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, WaiterError  # noqa: E402

from slipway.compat.sagemaker.shapes import output_errors  # noqa: E402
from tests.support.sagemaker import ROLE, SKLEARN_IMAGE, TRAIN_SCRIPT, sourcedir, training_request  # noqa: E402
from tests.support.servers import SlipwayServer  # noqa: E402

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


def _clients(server: SlipwayServer) -> tuple[Any, Any, Any]:
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", "keys", "create", "--aws", "--output", "json"],
                         capture_output=True, text=True, env=server.cli_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    key = json.loads(out.stdout)
    kw = {"endpoint_url": server.url, "region_name": "us-east-1", "aws_access_key_id": key["key_id"],
          "aws_secret_access_key": key["key"],
          "config": Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})}
    return boto3.client("s3", **kw), boto3.client("sagemaker", **kw), boto3.client("sagemaker-runtime", **kw)


def _fits(operation: str, out: dict[str, Any]) -> dict[str, Any]:
    """What boto3 parsed back, as the wire had it (times to epoch), fits the output shape."""
    wire = json.loads(json.dumps({k: v for k, v in out.items() if k != "ResponseMetadata"},
                                 default=lambda v: v.timestamp()))
    assert output_errors(operation, wire) == []
    return out


# The script's handler echoes the caller's custom attributes, as a SageMaker inference handler may.
SCRIPT = TRAIN_SCRIPT + '''

def output_fn(prediction, accept, context=None):
    import json
    seen = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes") if context else None
    if seen:
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "seen=" + seen)
    if accept == "text/csv":
        return "\\n".join(str(int(v)) for v in prediction), "text/csv"
    return json.dumps(prediction.tolist()), "application/json"
'''


def test_boto3_trains_deploys_and_invokes(sqlite_server: SlipwayServer) -> None:
    s3, sm, rt = _clients(sqlite_server)
    s3.create_bucket(Bucket="sm-bucket")
    s3.put_object(Bucket="sm-bucket", Key="b3/source/sourcedir.tar.gz", Body=sourcedir({"train.py": SCRIPT}))
    rows = "".join(f"{i % 7},{(i * 3) % 5},{int(i % 7 > 3)}\n" for i in range(40))
    s3.put_object(Bucket="sm-bucket", Key="data/train/part-0.csv", Body=("x1,x2,y\n" + rows).encode())

    arn = _fits("CreateTrainingJob", sm.create_training_job(**training_request("b3")))["TrainingJobArn"]
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName="b3",
                                                             WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    d = _fits("DescribeTrainingJob", sm.describe_training_job(TrainingJobName="b3"))
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
    uri = d["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read()[:2] == b"\x1f\x8b"  # the S3 API serves the model
    listed = _fits("ListTrainingJobs", sm.list_training_jobs(NameContains="b3"))
    assert [j["TrainingJobName"] for j in listed["TrainingJobSummaries"]] == ["b3"]

    _fits("CreateModel", sm.create_model(ModelName="b3-model", ExecutionRoleArn=ROLE,
                                         PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": uri}))
    _fits("CreateEndpointConfig", sm.create_endpoint_config(EndpointConfigName="b3-cfg", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "b3-model", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}]))
    # The creation-time bounds filter endpoint configs too (exclusive bounds, as every List* here).
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs(
        CreationTimeAfter=datetime.datetime(2020, 1, 1), NameContains="b3")["EndpointConfigs"]] == ["b3-cfg"]
    assert sm.list_endpoint_configs(CreationTimeBefore=datetime.datetime(2020, 1, 1))["EndpointConfigs"] == []
    _fits("CreateEndpoint", sm.create_endpoint(EndpointName="b3-ep", EndpointConfigName="b3-cfg"))
    sm.get_waiter("endpoint_in_service").wait(EndpointName="b3-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    r = rt.invoke_endpoint(EndpointName="b3-ep", Body=b"[[1, 2], [6, 0]]", ContentType="application/json")
    assert len(json.loads(r["Body"].read())) == 2 and r["InvokedProductionVariant"] == "AllTraffic"
    assert "CustomAttributes" not in r  # absent unless the handler sets it
    r = rt.invoke_endpoint(EndpointName="b3-ep", Body=b"1,2\n6,0", ContentType="text/csv", Accept="text/csv",
                           CustomAttributes="trace=abc-1")
    assert r["Body"].read() == b"0\n1" and r["CustomAttributes"] == "seen=trace=abc-1"

    # Batch transform: every object under the prefix, split by line, answers as <key>.out
    s3.put_object(Bucket="sm-bucket", Key="batch/in/a.csv", Body=b"1,2\n6,0\n")
    s3.put_object(Bucket="sm-bucket", Key="batch/in/b.csv", Body=b"5,1\n0,0\n2,2\n")
    request = {"TransformJobName": "b3-batch", "ModelName": "b3-model", "BatchStrategy": "MultiRecord",
               "MaxPayloadInMB": 1, "TransformInput": {"DataSource": {"S3DataSource": {
                   "S3DataType": "S3Prefix", "S3Uri": "s3://sm-bucket/batch/in/"}}, "ContentType": "text/csv",
                   "SplitType": "Line"},
               "TransformOutput": {"S3OutputPath": "s3://sm-out/batch", "Accept": "text/csv", "AssembleWith": "Line"},
               "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1}}
    with pytest.raises(ClientError) as err:
        sm.create_transform_job(**{**request, "TransformInput": {**request["TransformInput"], "SplitType": "RecordIO"}})
    assert err.value.response["Error"]["Code"] == "ValidationException" and "SplitType" in str(err.value)
    _fits("CreateTransformJob", sm.create_transform_job(**request))
    sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="b3-batch",
                                                             WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    d = _fits("DescribeTransformJob", sm.describe_transform_job(TransformJobName="b3-batch"))
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert d["TransformEndTime"] >= d["TransformStartTime"] >= d["CreationTime"]
    assert s3.get_object(Bucket="sm-out", Key="batch/a.csv.out")["Body"].read() == b"0\n1\n"
    assert s3.get_object(Bucket="sm-out", Key="batch/b.csv.out")["Body"].read() == b"1\n0\n0\n"
    assert d["TransformOutput"]["S3OutputPath"] == "s3://sm-out/batch"
    with sqlite_server.http() as http:  # the dashboard shows where it read and wrote, not dataset links
        page = http.get("/ui/transforms/b3-batch")
        assert page.status_code == 200 and "s3://sm-bucket/batch/in/" in page.text and "s3://sm-out/batch" in page.text
        assert "/ui/datasets/s3:" not in http.get("/ui/transforms").text
    listed = _fits("ListTransformJobs", sm.list_transform_jobs(StatusEquals="Completed"))
    assert [j["TransformJobName"] for j in listed["TransformJobSummaries"]] == ["b3-batch"]
    with pytest.raises(ClientError) as err:
        sm.stop_transform_job(TransformJobName="b3-batch")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    # Input the model refuses: the job fails, its FailureReason names the records and the model's message
    s3.put_object(Bucket="sm-bucket", Key="batch/bad/x.csv", Body=b"one,two\n")
    bad = {**request, "TransformJobName": "b3-bad", "ModelClientConfig": {"InvocationsMaxRetries": 0},
           "TransformInput": {**request["TransformInput"], "DataSource": {"S3DataSource": {
               "S3DataType": "S3Prefix", "S3Uri": "s3://sm-bucket/batch/bad"}}}}
    _fits("CreateTransformJob", sm.create_transform_job(**bad))
    with pytest.raises(WaiterError):
        sm.get_waiter("transform_job_completed_or_stopped").wait(TransformJobName="b3-bad",
                                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    d = _fits("DescribeTransformJob", sm.describe_transform_job(TransformJobName="b3-bad"))
    assert d["TransformJobStatus"] == "Failed" and "refused the request" in d["FailureReason"], d
    d = _fits("DescribeEndpoint", sm.describe_endpoint(EndpointName="b3-ep"))
    assert d["ProductionVariants"][0]["CurrentInstanceCount"] == 1

    _fits("AddTags", sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}]))
    assert {"Key": "stage", "Value": "dev"} in _fits("ListTags", sm.list_tags(ResourceArn=arn))["Tags"]
    with pytest.raises(ClientError) as err:
        sm.describe_model(ModelName="nope")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**training_request("bad_name"))
    assert "regular expression pattern" in err.value.response["Error"]["Message"]

    sm.delete_endpoint(EndpointName="b3-ep")
    sm.get_waiter("endpoint_deleted").wait(EndpointName="b3-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 60})
