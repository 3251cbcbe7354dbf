"""boto3, unmodified, against a real server: S3, STS, auth refusals, sagemaker-runtime, CloudWatch Logs.

One server for the module; the AWS key is made with the CLI as a user would (`slipway keys create --aws`).
Every answer is parsed by botocore's own parsers (the client call), and its shape asserted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.support.servers import SlipwayServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlipwayServer]:
    server = SlipwayServer(tmp_path_factory.mktemp("aws") / "home").start()
    yield server
    server.stop()


def slipway(srv: SlipwayServer, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "slipway.cli.main", *args, "--output", "json"], capture_output=True,
                         text=True, env=srv.cli_env(), timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def aws_key(srv: SlipwayServer) -> tuple[str, str]:
    k = slipway(srv, "keys", "create", "--aws", "--description", "boto3")
    assert k["kind"] == "aws" and k["key_id"].startswith("AKIA") and len(k["key_id"]) == 20 and len(k["key"]) == 40
    return k["key_id"], k["key"]


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


def aws(srv: SlipwayServer, key: tuple[str, str], service: str, **config: Any) -> Any:
    client = boto3.client(service, endpoint_url=srv.url, region_name="us-east-1", aws_access_key_id=key[0],
                          aws_secret_access_key=key[1],
                          config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, **config))
    client.meta.events.register("after-call", _check_shape)
    return client


def test_s3_objects_with_default_checksums(srv: SlipwayServer, aws_key: tuple[str, str], tmp_path: Path) -> None:
    s3 = aws(srv, aws_key, "s3")
    assert s3.create_bucket(Bucket="data")["ResponseMetadata"]["HTTPStatusCode"] == 200
    s3.head_bucket(Bucket="data")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["data"]
    body = b"a,b\n" + b"1,2\n" * 1000
    put = s3.put_object(Bucket="data", Key="train/part one.csv", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"' and put.get("ChecksumCRC32")
    got = s3.get_object(Bucket="data", Key="train/part one.csv")
    assert got["Body"].read() == body and got["ContentLength"] == len(body)
    ranged = s3.get_object(Bucket="data", Key="train/part one.csv", Range="bytes=4-11")
    assert ranged["Body"].read() == body[4:12] and ranged["ContentRange"] == f"bytes 4-11/{len(body)}"
    assert s3.get_object(Bucket="data", Key="train/part one.csv", Range="bytes=-4")["Body"].read() == body[-4:]
    head = s3.head_object(Bucket="data", Key="train/part one.csv")
    assert head["ContentLength"] == len(body) and head["ETag"] == put["ETag"]
    # the multipart path boto3's transfer manager takes for big files (threshold lowered to 5 MB parts)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * (11 * 1024 * 1024 // 256 + 7))
    from boto3.s3.transfer import TransferConfig
    cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(big), "data", "model/big.bin", Config=cfg)
    out = tmp_path / "back.bin"
    s3.download_file("data", "model/big.bin", str(out), Config=cfg)
    assert out.read_bytes() == big.read_bytes()
    assert s3.head_object(Bucket="data", Key="model/big.bin")["ETag"].endswith('-3"')
    for n in range(3):
        s3.put_object(Bucket="data", Key=f"train/x{n}.csv", Body=b"x")
    listed = s3.list_objects_v2(Bucket="data", Prefix="train/")
    assert [o["Key"] for o in listed["Contents"]] == ["train/part one.csv", "train/x0.csv", "train/x1.csv",
                                                      "train/x2.csv"]
    assert listed["KeyCount"] == 4 and listed["IsTruncated"] is False
    top = s3.list_objects_v2(Bucket="data", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["model/", "train/"] and "Contents" not in top
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="data", PaginationConfig={"PageSize": 2}))
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == [
        "model/big.bin", "train/part one.csv", "train/x0.csv", "train/x1.csv", "train/x2.csv"]
    upload = s3.create_multipart_upload(Bucket="data", Key="gone.bin")
    s3.upload_part(Bucket="data", Key="gone.bin", UploadId=upload["UploadId"], PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket="data", Key="gone.bin", UploadId=upload["UploadId"])
    s3.delete_object(Bucket="data", Key="train/x0.csv")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="data", Key="train/x0.csv")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="nope", Key="k", Body=b"x")
    assert e.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket="data", Key="a/../b", Body=b"x")
    assert e.value.response["Error"]["Code"] == "InvalidArgument" and "'a/../b'" in e.value.response["Error"]["Message"]
    # presigned URLs: SigV4 (boto3 presigns with SigV2 in us-east-1 unless told signature_version="s3v4")
    url = aws(srv, aws_key, "s3", signature_version="s3v4").generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "train/x1.csv"}, ExpiresIn=60)
    assert httpx.get(url).content == b"x"
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="data")
    assert e.value.response["Error"]["Code"] == "BucketNotEmpty"
    assert {"PutObject", "GetObject", "HeadObject", "ListObjectsV2", "CreateMultipartUpload", "UploadPart",
            "CompleteMultipartUpload", "ListBuckets"} <= set(SHAPES_CHECKED)


def test_sts_identity_and_refusals(srv: SlipwayServer, aws_key: tuple[str, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ident = aws(srv, aws_key, "sts").get_caller_identity()
    assert ident["Arn"] == "arn:aws:iam::000000000000:user/admin" and ident["UserId"] == aws_key[0]
    assert ident["Account"] == "000000000000"
    for client in (aws(srv, (aws_key[0], "x" * 40), "sts"), aws(srv, ("AKIAAAAAAAAAAAAAAAAA", aws_key[1]), "sts")):
        with pytest.raises(ClientError) as e:
            client.get_caller_identity()
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert e.value.response["Error"]["Code"] in ("SignatureDoesNotMatch", "InvalidClientTokenId")
    # unsigned: 401 in each protocol's shape
    r = httpx.post(srv.url + "/", content=b"Action=GetCallerIdentity&Version=2011-06-15",
                   headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401 and "<Code>MissingAuthenticationToken</Code>" in r.text
    r = httpx.post(srv.url + "/", content=b"{}", headers={"X-Amz-Target": "SageMaker.ListTrainingJobs",
                                                           "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 401 and r.json()["__type"] == "MissingAuthenticationToken"
    # a signature from 20 minutes ago
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20))
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    req = AWSRequest("POST", srv.url + "/", data=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Host": srv.url.split("//")[1]})
    SigV4Auth(Credentials(*aws_key), "sts", "us-east-1").add_auth(req)
    r = httpx.post(srv.url + "/", content=body, headers=dict(req.headers.items()))
    assert r.status_code == 403 and "<Code>RequestTimeTooSkewed</Code>" in r.text and "15 minutes" in r.text
    # Slipway's own routes are untouched
    with srv.http() as h:
        assert h.get("/api/v1/whoami").json()["user"] == "admin"


def test_runtime_invoke_and_logs_of_a_job(srv: SlipwayServer, aws_key: tuple[str, str], tmp_path: Path) -> None:
    from slipway.client import Client
    from tests.support.models import first_rows, write_cancer_artifact

    with Client(url=srv.url, home=srv.home) as c:
        c.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        c.endpoints.deploy("cancer-ep", "cancer:1")
        src = tmp_path / "src"
        src.mkdir()
        (src / "train.py").write_text("import os\nprint('epoch 1 loss 0.5')\nprint('epoch 2 loss 0.25')\n"
                                      "open(os.path.join(os.environ['SM_MODEL_DIR'], 'm.txt'), 'w').write('m')\n")
        job = c.jobs.create("logged", script="train.py", source_dir=src).wait(timeout=180)
        assert job.status == "Completed"
    runtime = aws(srv, aws_key, "sagemaker-runtime")
    out = runtime.invoke_endpoint(EndpointName="cancer-ep", Body=json.dumps({"instances": first_rows(2)}),
                                  ContentType="application/json", Accept="application/json",
                                  CustomAttributes="trace=1", InferenceId="inf-1")
    assert out["ContentType"].startswith("application/json") and out["InvokedProductionVariant"]
    assert [p["label"] for p in json.loads(out["Body"].read())["predictions"]] == ["malignant", "malignant"]
    with pytest.raises(ClientError) as e:  # the model refuses the input: 424 ModelError with its own words
        runtime.invoke_endpoint(EndpointName="cancer-ep", Body=b"{not json", ContentType="application/json")
    err = e.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424 and err["Error"]["Code"] == "ModelError"
    assert 400 <= err["OriginalStatusCode"] < 500 and err["OriginalMessage"]
    with pytest.raises(ClientError) as e:  # an empty body is read once (signed over its hash) and reaches the model
        runtime.invoke_endpoint(EndpointName="cancer-ep", Body=b"", ContentType="application/json")
    assert e.value.response["Error"]["Code"] == "ModelError"
    with pytest.raises(ClientError) as e:
        runtime.invoke_endpoint(EndpointName="nope", Body=b"{}", ContentType="application/json")
    assert e.value.response["Error"]["Code"] == "ValidationError" and "'nope'" in e.value.response["Error"]["Message"]

    logs = aws(srv, aws_key, "logs")
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="logged")
    [stream] = streams["logStreams"]
    assert stream["logStreamName"].startswith("logged/algo-1-")
    events = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
                                 startFromHead=True)
    assert [e["message"] for e in events["events"] if e["message"].startswith("epoch")] == [
        "epoch 1 loss 0.5", "epoch 2 loss 0.25"]
    # the endpoint's replica logs: a stream <variant>/<replica id> per replica
    group = "/aws/sagemaker/Endpoints/cancer-ep"
    [ep_stream] = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert ep_stream["logStreamName"].startswith(out["InvokedProductionVariant"] + "/")
    replica_events = logs.get_log_events(logGroupName=group, logStreamName=ep_stream["logStreamName"],
                                         startFromHead=True)["events"]
    [loaded] = [e for e in replica_events if "model loaded, serving" in e["message"]]
    assert loaded["message"].startswith(dt.datetime.fromtimestamp(loaded["timestamp"] / 1000).strftime("%Y-%m-%d %H:%M"))
    found = logs.filter_log_events(logGroupName=group, filterPattern='"model loaded"', startTime=loaded["timestamp"])
    assert [(e["logStreamName"], e["message"]) for e in found["events"]] == [(ep_stream["logStreamName"],
                                                                              loaded["message"])]
    assert logs.filter_log_events(logGroupName=group, filterPattern="loaded", endTime=loaded["timestamp"])[
        "events"] == []
    paged = list(logs.get_paginator("filter_log_events").paginate(logGroupName=group, PaginationConfig={
        "PageSize": 1}))
    assert [e["message"] for p in paged for e in p["events"]] == [e["message"] for e in replica_events]
    again = logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream["logStreamName"],
                                nextToken=events["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == events["nextForwardToken"]


def test_aws_calls_are_access_controlled_and_audited(srv: SlipwayServer) -> None:
    from slipway.client import Client

    with Client(url=srv.url, home=srv.home) as c:
        c.users.create("vera", "viewer")
        k = c.keys.create(user="vera", aws=True)
        sm = aws(srv, (k.key_id, k.key), "sagemaker")
        with pytest.raises(ClientError) as e:
            sm.create_training_job(TrainingJobName="denied", AlgorithmSpecification={
                "TrainingImage": "x", "TrainingInputMode": "File"}, RoleArn="arn:aws:iam::000000000000:role/r",
                OutputDataConfig={"S3OutputPath": "s3://b/o"}, ResourceConfig={
                    "InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                StoppingCondition={"MaxRuntimeInSeconds": 60})
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "jobs:Create on job/denied" in e.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as e:
            aws(srv, (k.key_id, k.key), "s3").create_bucket(Bucket="vera-bucket")
        assert e.value.response["Error"]["Code"] == "AccessDenied"
        events = c.audit.list(user="vera").items
        assert {(ev.action, ev.resource, ev.outcome, ev.key_id) for ev in events} >= {
            ("jobs:Create", "job/denied", "denied", k.key_id), ("s3:CreateBucket", "bucket/vera-bucket", "denied",
                                                                 k.key_id)}
        c.keys.revoke(k.key_id)
        with pytest.raises(ClientError) as e:
            aws(srv, (k.key_id, k.key), "sts").get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        refused = c.audit.list(action="auth:AwsSignature").items
        assert ("auth:AwsSignature", f"key/{k.key_id}", "denied", 403) in {
            (ev.action, ev.resource, ev.outcome, ev.status) for ev in refused}


def test_s3_aws_chunked_body_with_crc32_trailer(srv: SlipwayServer, aws_key: tuple[str, str]) -> None:
    """What boto3 >= 1.36 sends over TLS: STREAMING-UNSIGNED-PAYLOAD-TRAILER, aws-chunked, a CRC32 trailer."""
    import base64
    import zlib

    from botocore.auth import S3SigV4Auth

    aws(srv, aws_key, "s3").create_bucket(Bucket="chunked")
    data = b"hello chunked world\n" * 500

    def put(key: str, crc: str) -> httpx.Response:
        body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (data[:4096], data[4096:])) + (
            f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode())
        url = f"{srv.url}/chunked/{key}"
        headers = {"Host": srv.url.split("//")[1], "Content-Encoding": "aws-chunked",
                   "X-Amz-Content-SHA256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "X-Amz-Trailer": "x-amz-checksum-crc32",
                   "X-Amz-Decoded-Content-Length": str(len(data)), "Content-Length": str(len(body))}
        req = AWSRequest("PUT", url, data=body, headers=headers)
        req.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}  # as botocore does
        S3SigV4Auth(Credentials(*aws_key), "s3", "us-east-1").add_auth(req)
        return httpx.put(url, content=body, headers=dict(req.headers.items()))

    good = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    r = put("ok.txt", good)
    assert r.status_code == 200 and r.headers["x-amz-checksum-crc32"] == good, r.text
    assert aws(srv, aws_key, "s3").get_object(Bucket="chunked", Key="ok.txt")["Body"].read() == data
    r = put("bad.txt", base64.b64encode(b"\0\0\0\0").decode())
    assert r.status_code == 400 and "<Code>BadDigest</Code>" in r.text
    with pytest.raises(ClientError):
        aws(srv, aws_key, "s3").head_object(Bucket="chunked", Key="bad.txt")  # nothing was stored


def signed_post(srv: SlipwayServer, key: tuple[str, str], service: str, body: bytes, headers: dict[str, str]
                ) -> httpx.Response:
    req = AWSRequest("POST", srv.url + "/", data=body, headers={"Host": srv.url.split("//")[1], **headers})
    SigV4Auth(Credentials(*key), service, "us-east-1").add_auth(req)
    return httpx.post(srv.url + "/", content=body, headers=dict(req.headers.items()))


def test_bad_aws_input_is_a_clear_4xx(srv: SlipwayServer, aws_key: tuple[str, str]) -> None:
    s3, logs = aws(srv, aws_key, "s3"), aws(srv, aws_key, "logs")

    def code(fn: Any, **kw: Any) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as e:
            fn(**kw)
        r = e.value.response
        return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"].get("Message", "")

    assert code(s3.create_bucket, Bucket="ab")[:2] == (400, "InvalidBucketName")
    s3.create_bucket(Bucket="bad-input")
    s3.put_object(Bucket="bad-input", Key="k", Body=b"12345")
    assert code(s3.get_object, Bucket="bad-input", Key="k", Range="bytes=99-")[:2] == (416, "InvalidRange")
    assert code(s3.list_objects_v2, Bucket="bad-input", ContinuationToken="!!")[:2] == (400, "InvalidArgument")
    assert code(s3.upload_part, Bucket="bad-input", Key="k", UploadId="nope", PartNumber=1, Body=b"x")[:2] == (
        404, "NoSuchUpload")
    up = s3.create_multipart_upload(Bucket="bad-input", Key="m")["UploadId"]
    status, err, message = code(s3.complete_multipart_upload, Bucket="bad-input", Key="m", UploadId=up,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"abc"'}]})
    assert (status, err) == (400, "InvalidPart") and "Part 1" in message
    group = "/aws/sagemaker/TrainingJobs"
    assert code(logs.get_log_events, logGroupName="/other", logStreamName="x/y")[1] == "ResourceNotFoundException"
    assert code(logs.describe_log_streams, logGroupName=group, logStreamNamePrefix="no-such-job")[1] == \
        "ResourceNotFoundException"
    assert code(logs.get_log_events, logGroupName=group, logStreamName="x/y", nextToken="zz")[1] == \
        "InvalidParameterException"
    json11 = {"Content-Type": "application/x-amz-json-1.1"}
    r = signed_post(srv, aws_key, "sagemaker", b"{not json", {**json11, "X-Amz-Target": "SageMaker.ListModels"})
    assert r.status_code == 400 and r.json()["__type"] == "SerializationException"
    r = signed_post(srv, aws_key, "sagemaker", b"{}", {**json11, "X-Amz-Target": "SageMaker.Frobnicate"})
    assert r.status_code == 400 and r.json()["__type"] == "UnknownOperationException" and "Frobnicate" in r.text
    endpoints = "/aws/sagemaker/Endpoints/"
    assert code(logs.describe_log_streams, logGroupName=endpoints + "nope")[1] == "ResourceNotFoundException"
    assert code(logs.filter_log_events, logGroupName=endpoints + "nope")[1] == "ResourceNotFoundException"
    status, err, message = code(s3.copy_object, Bucket="bad-input", Key="c", CopySource="bad-input/k",
                                MetadataDirective="MOVE")
    assert (status, err) == (400, "InvalidArgument") and "'MOVE'" in message
    assert code(s3.copy_object, Bucket="bad-input", Key="k", CopySource="bad-input/k")[:2] == (400, "InvalidRequest")
    assert code(s3.copy_object, Bucket="bad-input", Key="c", CopySource={"Bucket": "bad-input", "Key": "k",
                                                                         "VersionId": "v2"})[:2] == (404, "NoSuchVersion")
    assert code(s3.copy_object, Bucket="bad-input", Key="c", CopySource="bad-input/none")[:2] == (404, "NoSuchKey")
    assert code(s3.put_object, Bucket="bad-input", Key="c", Body=b"x", ChecksumCRC32C="AAAAAA==")[:2] == (
        400, "BadDigest")
    r = signed_post(srv, aws_key, "dynamodb", b"{}", {"Content-Type": "application/x-amz-json-1.0"})
    assert r.status_code == 400 and "'dynamodb'" in r.json()["message"]
    r = httpx.post(srv.url + "/", content=b"{}", headers={**json11, "X-Amz-Target": "SageMaker.ListModels",
                                                          "Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    assert r.status_code == 400 and r.json()["__type"] == "IncompleteSignature"


def test_s3_copy_delete_objects_list_v1_and_crc32c(srv: SlipwayServer, aws_key: tuple[str, str]) -> None:
    from boto3.s3.transfer import TransferConfig

    from slipway.compat.checksums import Crc32c, Crc64Nvme

    s3 = aws(srv, aws_key, "s3")
    s3.create_bucket(Bucket="src")
    s3.create_bucket(Bucket="dst")
    body = b"x,y\n1,2\n"
    s3.put_object(Bucket="src", Key="a dir/one.csv", Body=body, ContentType="text/csv")
    copied = s3.copy_object(Bucket="dst", Key="copied.csv", CopySource={"Bucket": "src", "Key": "a dir/one.csv"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket="dst", Key="copied.csv")
    assert got["Body"].read() == body and got["ContentType"] == "text/csv"  # COPY keeps the metadata
    s3.copy_object(Bucket="dst", Key="copied.csv", CopySource="dst/copied.csv", MetadataDirective="REPLACE",
                   ContentType="application/x-csv")
    again = s3.get_object(Bucket="dst", Key="copied.csv")
    assert again["ContentType"] == "application/x-csv" and again["Body"].read() == body
    # boto3's managed copy of a 6 MB object: UploadPartCopy, two ranged parts
    big = bytes(range(256)) * (6 * 1024 * 1024 // 256)
    s3.put_object(Bucket="src", Key="big.bin", Body=big)
    s3.copy({"Bucket": "src", "Key": "big.bin"}, "dst", "big.bin",
            Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024))
    assert s3.get_object(Bucket="dst", Key="big.bin")["Body"].read() == big
    assert s3.head_object(Bucket="dst", Key="big.bin")["ETag"].endswith('-2"')
    for k in ("d/1", "d/2", "d/3", "e/1"):
        s3.put_object(Bucket="dst", Key=k, Body=b"1")
    deleted = s3.delete_objects(Bucket="dst", Delete={"Objects": [{"Key": "d/1"}, {"Key": "d/2", "VersionId": "v9"},
                                                                  {"Key": "d/none"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["d/1", "d/none"]
    assert [(e["Key"], e["Code"]) for e in deleted["Errors"]] == [("d/2", "NoSuchVersion")]
    quiet = s3.delete_objects(Bucket="dst", Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in quiet and "Errors" not in quiet
    # ListObjects (v1): markers, delimiter, the paginator
    keys = ["big.bin", "copied.csv", "d/2", "e/1"]
    assert [o["Key"] for o in s3.list_objects(Bucket="dst")["Contents"]] == keys
    pages = list(s3.get_paginator("list_objects").paginate(Bucket="dst", PaginationConfig={"PageSize": 1}))
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == keys
    first = s3.list_objects(Bucket="dst", Delimiter="/", MaxKeys=3)
    assert first["IsTruncated"] and first["NextMarker"] == "d/" and [p["Prefix"] for p in first["CommonPrefixes"]] == [
        "d/"]
    rest = s3.list_objects(Bucket="dst", Delimiter="/", Marker=first["NextMarker"])
    assert not rest["IsTruncated"] and [p["Prefix"] for p in rest["CommonPrefixes"]] == ["e/"] and "Contents" not in rest
    # CRC32C and CRC64NVME are verified without awscrt (botocore sends a given value as is)
    data = b"checked by the server"
    for algorithm, impl in (("CRC32C", Crc32c()), ("CRC64NVME", Crc64Nvme())):
        impl.update(data)
        put = s3.put_object(Bucket="dst", Key="sum.txt", Body=data, **{f"Checksum{algorithm}": impl.b64digest()})
        assert put[f"Checksum{algorithm}"] == impl.b64digest()
    assert {"CopyObject", "UploadPartCopy", "DeleteObjects", "ListObjects"} <= set(SHAPES_CHECKED)


def test_dataset_versions_read_through_s3(srv: SlipwayServer, aws_key: tuple[str, str], tmp_path: Path) -> None:
    from slipway.client import Client

    folder = tmp_path / "docs"
    (folder / "a").mkdir(parents=True)
    (folder / "a" / "x.txt").write_text("hello")
    (folder / "b.txt").write_text("bee")
    rows = tmp_path / "rows.csv"
    rows.write_text("f,label\n1,0\n2,1\n")
    with Client(url=srv.url, home=srv.home) as c:
        c.datasets.push("s3view", rows)
        c.datasets.push("s3view", folder, format="files")
        narrow = c.keys.create(aws=True, policy={"Statement": [
            {"Effect": "Allow", "Action": ["datasets:Get"], "Resource": ["dataset/other*"]}]})
    s3 = aws(srv, aws_key, "s3")
    view = "slipway-datasets"
    listed = s3.list_objects_v2(Bucket=view, Prefix="s3view/")
    assert [o["Key"] for o in listed["Contents"]] == ["s3view/1/rows.csv", "s3view/2/a/x.txt", "s3view/2/b.txt"]
    assert [o["Size"] for o in listed["Contents"]] == [rows.stat().st_size, 5, 3]
    assert s3.get_object(Bucket=view, Key="s3view/2/a/x.txt")["Body"].read() == b"hello"
    assert s3.get_object(Bucket=view, Key="s3view/2/b.txt", Range="bytes=1-")["Body"].read() == b"ee"
    s3.download_file(view, "s3view/1/rows.csv", str(tmp_path / "back.csv"))
    assert (tmp_path / "back.csv").read_bytes() == rows.read_bytes()
    assert "s3view/" in [p["Prefix"] for p in s3.list_objects(Bucket=view, Delimiter="/")["CommonPrefixes"]]
    s3.create_bucket(Bucket="from-datasets")
    s3.copy_object(Bucket="from-datasets", Key="x.txt", CopySource=f"{view}/s3view/2/a/x.txt")
    assert s3.get_object(Bucket="from-datasets", Key="x.txt")["Body"].read() == b"hello"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=view, Key="s3view/3/new.csv", Body=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDenied" and "read-only" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=view, Key="s3view/2/nope.txt")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    denied = aws(srv, (narrow.key_id, narrow.key), "s3")  # the dataset's own access control
    refusals = [(lambda: denied.get_object(Bucket=view, Key="s3view/1/rows.csv"), "datasets:Get on dataset/s3view"),
                (lambda: denied.list_objects_v2(Bucket=view, Prefix="s3view/"), "datasets:Get on dataset/s3view"),
                (lambda: denied.list_objects_v2(Bucket=view), "datasets:List on *")]
    for call, words in refusals:
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied" and words in e.value.response["Error"]["Message"]
    assert denied.list_objects_v2(Bucket=view, Prefix="other/")["KeyCount"] == 0
