"""Batch transform: CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob.

A SageMaker transform job is a Slipway transform job of the same name (``slipway transforms``) that reads
S3 objects and writes S3 objects (:meth:`TransformService.create_for_objects`): every object under the
``S3Uri`` prefix is split (``SplitType`` Line or None), sent in requests of one record (``SingleRecord``) or
as many as fit ``MaxPayloadInMB`` (``MultiRecord``) to a temporary replica of the Model's version, and
the answers, in input order, become ``<S3OutputPath>/<key relative to the prefix>.out``, as SageMaker
writes them. Transforms made with Slipway's CLI or SDK are listed and described too.
"""

from __future__ import annotations

from typing import Any

from slipway.compat.errors import AwsError
from slipway.compat.sagemaker.context import Call
from slipway.compat.sagemaker.models import model_ref
from slipway.compat.sagemaker.shapes import arn, clean, epoch, every, in_window, matches, page, sort_items
from slipway.compat.sagemaker.training import parse_s3
from slipway.services.buckets import BucketError

KIND = "transform-job"
STATUS = {"Pending": "InProgress", "InProgress": "InProgress", "Completed": "Completed", "Failed": "Failed",
          "Stopping": "Stopping", "Stopped": "Stopped"}
MAX_PARALLEL = 16
MAX_OBJECTS = 10000


def _refuse(field: str, value: Any, expected: str) -> AwsError:
    return AwsError("ValidationException", f"Value {value!r} at '{field}' is not supported by Slipway. {expected}")


def _inputs(call: Call, source: dict[str, Any], out_bucket: str, out_prefix: str) -> list[dict[str, str]]:
    """Every object under the S3 prefix, with the key of its ``.out`` object."""
    uri = source["S3Uri"]
    bucket, prefix = parse_s3(uri, "TransformInput.DataSource.S3DataSource.S3Uri")
    buckets = call.platform.buckets
    try:
        buckets.bucket(bucket)
    except BucketError as exc:
        raise AwsError("ValidationException", f"{uri}: {exc.message}") from None
    found, after = [], ""
    while True:
        chunk = buckets.list(bucket, prefix, after, 1000)
        found += [m.key for m in chunk]
        if len(chunk) < 1000 or len(found) > MAX_OBJECTS:
            break
        after = chunk[-1].key
    if len(found) > MAX_OBJECTS:
        raise AwsError("ValidationException", f"{uri} holds more than {MAX_OBJECTS} objects; Slipway takes at most "
                                              f"{MAX_OBJECTS} per transform job.")
    if not found:
        raise AwsError("ValidationException", f"No S3 objects found under S3 URL \"{uri}\" given in input data source. "
                                              "Please ensure that the bucket exists and has objects under the prefix.")
    folder = prefix.rsplit("/", 1)[0] + "/" if "/" in prefix else ""
    base = out_prefix.strip("/")
    return [{"bucket": bucket, "key": k, "out": f"{base}/{k[len(folder):]}.out" if base else f"{k[len(folder):]}.out"}
            for k in found]


def _plan(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """The Slipway transform spec for a CreateTransformJob request (every unsupported member refused by name)."""
    tin, tout = body["TransformInput"], body["TransformOutput"]
    source = tin["DataSource"].get("S3DataSource")
    if source is None:
        raise _refuse("TransformInput.DataSource", list(tin["DataSource"]), "Expected S3DataSource.")
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise _refuse("TransformInput.DataSource.S3DataSource.S3DataType", source["S3DataType"], "Expected S3Prefix.")
    split = tin.get("SplitType") or "None"
    if split not in ("None", "Line"):
        raise _refuse("TransformInput.SplitType", split, "Expected None or Line.")
    if (tin.get("CompressionType") or "None") != "None":
        raise _refuse("TransformInput.CompressionType", tin["CompressionType"], "Expected None (upload the data "
                      "uncompressed).")
    strategy = body.get("BatchStrategy") or ("MultiRecord" if split == "Line" else "SingleRecord")
    assemble = tout.get("AssembleWith") or "None"
    processing = body.get("DataProcessing") or {}
    for f in ("InputFilter", "OutputFilter"):
        if processing.get(f) not in (None, "", "$"):
            raise _refuse(f"DataProcessing.{f}", processing[f], "Slipway applies no JSONPath filter: omit it or "
                          "pass \"$\".")
    join = (processing.get("JoinSource") or "None") == "Input"
    content_type = tin.get("ContentType") or ""
    if join and (split != "Line" or content_type.split(";")[0].strip().lower() not in ("text/csv", "csv")):
        raise _refuse("DataProcessing.JoinSource", "Input", "Slipway joins text/csv input split by Line only.")
    out_bucket, out_prefix = parse_s3(tout["S3OutputPath"], "TransformOutput.S3OutputPath")
    payload = body.get("MaxPayloadInMB")
    retries = (body.get("ModelClientConfig") or {}).get("InvocationsMaxRetries")
    return {"retries": 3 if retries is None else retries, "inputs": _inputs(call, source, out_bucket, out_prefix), "output_bucket": out_bucket,
            "output_uri": tout["S3OutputPath"],
            "content_type": content_type, "accept": tout.get("Accept") or "",
            "split": split.lower(), "strategy": strategy, "assemble": assemble.lower(), "join": join,
            "max_payload_mb": payload if payload else 6, "parallel": min(body.get("MaxConcurrentTransforms") or 1,
                                                                          MAX_PARALLEL)}


def create_transform_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from slipway.errors import NotFound

    name = body["TransformJobName"]
    try:
        call.platform.transforms.get(name)
    except NotFound:
        pass
    else:
        raise AwsError("ResourceInUse", f"Job name must be unique within an AWS account and region, and a job with "
                                        f"this name already exists ({arn(KIND, name)}).")
    ref = model_ref(call, body["ModelName"])
    spec = _plan(call, body)
    tags = {t["Key"]: t.get("Value", "") for t in body.get("Tags") or []}
    call.resources.delete(KIND, name)  # a row left by a transform deleted outside this API
    call.resources.add(KIND, name, name, body, tags, call.user)
    try:
        call.platform.transforms.create_for_objects(name, ref, body["TransformInput"]["DataSource"]["S3DataSource"]
                                                    ["S3Uri"], spec, call.user)
    except BaseException:
        call.resources.delete(KIND, name)
        raise
    return {"TransformJobArn": arn(KIND, name)}


def _dataset_uri(ref: str) -> str:
    return f"s3://slipway-datasets/{ref.replace(':', '/')}"


def describe(call: Call, view: Any) -> dict[str, Any]:
    found = call.resources.find(KIND, view.name)
    spec = found["spec"] if found else {}
    status = STATUS.get(view.status, view.status)
    options = view.options or {}
    if not spec:  # made with `slipway transform`: its dataset versions as S3 URIs
        spec = {"ModelName": view.model.split(":", 1)[0],
                "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                                   "S3Uri": _dataset_uri(view.data)}},
                                   "ContentType": "text/csv",
                                   "SplitType": "Line" if options.get("split", "line") == "line" else "None"},
                "TransformOutput": {"S3OutputPath": _dataset_uri(view.output_version or view.output)
                                    if not str(view.output_version or "").startswith("s3://") else view.output_version,
                                    "AssembleWith": "Line"},
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
                "MaxConcurrentTransforms": options.get("parallel"), "MaxPayloadInMB": options.get("max_payload_mb"),
                "BatchStrategy": "SingleRecord" if options.get("batch") == 1 else "MultiRecord",
                "DataProcessing": {"JoinSource": "Input" if options.get("join", True) else "None"}}
    payload = spec.get("MaxPayloadInMB")
    out = {
        "TransformJobName": view.name, "TransformJobArn": arn(KIND, view.name), "TransformJobStatus": status,
        "FailureReason": view.failure_reason or None, "ModelName": spec["ModelName"],
        "MaxConcurrentTransforms": spec.get("MaxConcurrentTransforms") or 1,
        "ModelClientConfig": spec.get("ModelClientConfig"),
        "MaxPayloadInMB": int(payload) if payload is not None else 6,
        "BatchStrategy": spec.get("BatchStrategy") or (options.get("s3") or {}).get("strategy"),
        "Environment": spec.get("Environment") or None, "TransformInput": spec["TransformInput"],
        "TransformOutput": spec.get("TransformOutput"), "DataCaptureConfig": spec.get("DataCaptureConfig"),
        "TransformResources": spec["TransformResources"], "CreationTime": epoch(view.created_at),
        "TransformStartTime": epoch(view.started_at), "TransformEndTime": epoch(view.finished_at),
        "DataProcessing": spec.get("DataProcessing"), "ExperimentConfig": spec.get("ExperimentConfig"),
    }
    return clean(out)


def describe_transform_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    return describe(call, call.platform.transforms.get(body["TransformJobName"]))


def list_transform_jobs(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    items = []
    for v in every(call.platform.transforms.list):
        status = STATUS.get(v.status, v.status)
        created = epoch(v.created_at) or 0.0
        modified = epoch(v.finished_at or v.started_at or v.created_at) or 0.0
        if not matches(body, v.name, status) or not in_window(body, created, modified):
            continue
        items.append(clean({"TransformJobName": v.name, "TransformJobArn": arn(KIND, v.name), "CreationTime": created,
                            "TransformEndTime": epoch(v.finished_at), "LastModifiedTime": modified,
                            "TransformJobStatus": status, "FailureReason": v.failure_reason or None}))
    items = sort_items(items, body, {"CreationTime": "CreationTime", "Name": "TransformJobName",
                                     "Status": "TransformJobStatus"})
    chunk, token = page(items, body)
    return clean({"TransformJobSummaries": chunk, "NextToken": token})


def stop_transform_job(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from slipway.errors import Conflict

    name = body["TransformJobName"]
    try:
        call.platform.transforms.stop(name)
    except Conflict as exc:
        raise AwsError("ValidationException", exc.message) from None
    return {}


OPERATIONS = {
    "CreateTransformJob": create_transform_job,
    "DescribeTransformJob": describe_transform_job,
    "ListTransformJobs": list_transform_jobs,
    "StopTransformJob": stop_transform_job,
}
