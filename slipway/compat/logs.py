"""CloudWatch Logs, as much as ``estimator.fit(logs=True)`` reads: a training job's output as one log stream.

Group ``/aws/sagemaker/TrainingJobs``, stream ``<job>/algo-1-<created, epoch seconds>``; events are the
lines of the Slipway job's log (read through the jobs service), and the forward token is the byte
offset reached, so following a running job returns each line once.
"""

from __future__ import annotations

from typing import Any

from slipway.compat.dispatch import Call
from slipway.compat.errors import AwsError
from slipway.errors import NotFound

__all__ = ["GROUP", "handle"]

GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT_GROUPS = "/aws/sagemaker/Endpoints/"  # + endpoint name: known, but Slipway keeps no replica log streams
TRANSFORM_GROUP = "/aws/sagemaker/TransformJobs"  # known, no streams: a transform's replica keeps no log either
_TERMINAL = ("Completed", "Failed", "Stopped")


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000) if when is not None else 0


def _check_group(body: dict[str, Any]) -> None:
    group = body.get("logGroupName")
    if group != GROUP:
        raise AwsError("ResourceNotFoundException", f"Log group {str(group)[:200]!r} does not exist: Slipway serves "
                       f"{GROUP} (and lists no streams in {ENDPOINT_GROUPS}<endpoint> and {TRANSFORM_GROUP}).", 400)


def _job(call: Call, name: str) -> Any:
    call.authorize("jobs:Get", f"job/{name}")
    try:
        return call.platform.training.get(name)
    except NotFound:
        raise AwsError("ResourceNotFoundException", f"The log stream for training job {name[:80]!r} does not exist.",
                       400) from None


def handle(call: Call, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    group = body.get("logGroupName")
    if isinstance(group, str) and group.startswith(ENDPOINT_GROUPS) and operation == "DescribeLogStreams":
        name = group[len(ENDPOINT_GROUPS):]
        call.authorize("endpoints:Get", f"endpoint/{name}")
        call.platform.endpoints.get(name)  # NotFound -> ResourceNotFound
        return {"logStreams": []}
    if group == TRANSFORM_GROUP and operation == "DescribeLogStreams":
        name = str(body.get("logStreamNamePrefix") or "").split("/", 1)[0]
        call.authorize("transforms:Get", f"transform/{name or '*'}")
        if name:
            call.platform.transforms.get(name)  # NotFound -> ResourceNotFound
        return {"logStreams": []}
    if operation == "DescribeLogStreams":
        _check_group(body)
        prefix = body.get("logStreamNamePrefix")
        if not isinstance(prefix, str) or not prefix:
            raise AwsError("InvalidParameterException", "logStreamNamePrefix is required: the training job name.", 400)
        job = _job(call, prefix.split("/", 1)[0])
        created = _ms(job.created_at)
        stream = f"{job.name}/algo-1-{created // 1000}"
        if not stream.startswith(prefix):
            return {"logStreams": []}
        last = _ms(job.ended_at) if job.ended_at else created
        return {"logStreams": [{"logStreamName": stream, "creationTime": created, "firstEventTimestamp": created,
                                "lastEventTimestamp": last, "lastIngestionTime": last, "storedBytes": 0,
                                "arn": f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:log-stream:{stream}"}]}
    if operation == "GetLogEvents":
        _check_group(body)
        stream = body.get("logStreamName")
        if not isinstance(stream, str) or "/" not in stream:
            raise AwsError("InvalidParameterException", "logStreamName must be <job>/algo-1-<time>.", 400)
        token = body.get("nextToken") or "f/0"
        if not isinstance(token, str) or not token.startswith(("f/", "b/")) or not token[2:].isdigit():
            raise AwsError("InvalidParameterException", f"nextToken {str(token)[:40]!r} is not one this server issued.",
                           400)
        job = _job(call, stream.split("/", 1)[0])
        offset = int(token[2:]) if token.startswith("f/") else 0
        data, _, status = call.platform.training.read_logs(job.name, offset)
        if status not in _TERMINAL:  # a line still being written comes with the next call
            data = data[:data.rfind(b"\n") + 1]
        at = _ms(job.created_at)
        events = [{"timestamp": at, "message": line.decode("utf-8", "replace"), "ingestionTime": at}
                  for line in data.splitlines()]
        nxt = offset + len(data)
        return {"events": events, "nextForwardToken": f"f/{nxt}", "nextBackwardToken": f"b/{offset}"}
    raise AwsError("UnknownOperationException", f"Operation Logs_20140328.{operation[:80]} is not supported by "
                   "Slipway (it answers DescribeLogStreams and GetLogEvents).", 400)
