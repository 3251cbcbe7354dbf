"""CloudWatch Logs for training jobs and endpoints, read from Slipway's own logs.

Group ``/aws/sagemaker/TrainingJobs`` (what ``estimator.fit(logs=True)`` reads), stream
``<job>/algo-1-<created, epoch seconds>``: events are the lines of the Slipway job's log (read through
the jobs service), and the forward token is the byte offset reached, so following a running job
returns each line once. Group ``/aws/sagemaker/Endpoints/<endpoint>``: a stream ``<variant>/<replica
id>`` per replica, its events the lines of the replica's log (slipway.services.endpoint_logs);
DescribeLogStreams, GetLogEvents and FilterLogEvents (start/end time, plain filter patterns, tokens).
"""

from __future__ import annotations

import base64
import shlex
from collections.abc import Callable
from typing import Any

from slipway.compat.dispatch import Call
from slipway.compat.errors import AwsError
from slipway.errors import InvalidArgument, NotFound
from slipway.services.endpoint_logs import LogStream

__all__ = ["GROUP", "handle"]

GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT_GROUPS = "/aws/sagemaker/Endpoints/"  # + endpoint name: a stream <variant>/<replica id> per replica
TRANSFORM_GROUP = "/aws/sagemaker/TransformJobs"  # known, no streams: a transform's replica keeps no log either
OPERATIONS = ("DescribeLogStreams", "GetLogEvents", "FilterLogEvents")
_TERMINAL = ("Completed", "Failed", "Stopped")


def _ms(when: Any) -> int:
    return int(when.timestamp() * 1000) if when is not None else 0


def _check_group(body: dict[str, Any]) -> None:
    group = body.get("logGroupName")
    if group != GROUP:
        raise AwsError("ResourceNotFoundException", f"Log group {str(group)[:200]!r} does not exist: Slipway serves "
                       f"{GROUP} and {ENDPOINT_GROUPS}<endpoint> (and lists no streams in {TRANSFORM_GROUP}).", 400)


def _job(call: Call, name: str) -> Any:
    call.authorize("jobs:Get", f"job/{name}")
    try:
        return call.platform.training.get(name)
    except NotFound:
        raise AwsError("ResourceNotFoundException", f"The log stream for training job {name[:80]!r} does not exist.",
                       400) from None


def handle(call: Call, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    if operation not in OPERATIONS:
        raise AwsError("UnknownOperationException", f"Operation Logs_20140328.{operation[:80]} is not supported by "
                       f"Slipway (it answers {', '.join(OPERATIONS)}).", 400)
    group = body.get("logGroupName")
    if group == TRANSFORM_GROUP and operation == "DescribeLogStreams":
        name = str(body.get("logStreamNamePrefix") or "").split("/", 1)[0]
        call.authorize("transforms:Get", f"transform/{name or '*'}")
        if name:
            call.platform.transforms.get(name)  # NotFound -> ResourceNotFound
        return {"logStreams": []}
    if isinstance(group, str) and group.startswith(ENDPOINT_GROUPS):
        return _endpoint(call, operation, body, group[len(ENDPOINT_GROUPS):])
    return _training(call, operation, body)


# -- endpoints: a stream per replica -----------------------------------------------------------------------------


def _int(body: dict[str, Any], name: str, low: int, high: int, default: int | None = None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise AwsError("InvalidParameterException", f"{name} has value {str(value)[:40]!r}; expected an integer from "
                       f"{low} to {high}.", 400)
    return value


def _matcher(pattern: Any) -> Callable[[str], bool]:
    """CloudWatch's plain filter patterns: terms (all must appear), ``"quoted phrases"``, ``?term`` (any of
    these), ``-term`` (none of these); an empty pattern matches every event. JSON (``{…}``) and
    space-delimited (``[…]``) patterns are refused."""
    if pattern is None or pattern == "":
        return lambda _: True
    if not isinstance(pattern, str) or pattern.lstrip().startswith(("{", "[")):
        raise AwsError("InvalidParameterException", f"filterPattern {str(pattern)[:80]!r} is not supported: Slipway "
                       "matches terms, \"quoted phrases\", ?any-of and -excluded terms (no JSON or [...] "
                       "patterns).", 400)
    try:
        words = shlex.split(pattern)
    except ValueError:
        raise AwsError("InvalidParameterException", f"filterPattern {pattern[:80]!r} has an unclosed quote.",
                       400) from None
    every = [w for w in words if not w.startswith(("?", "-"))]
    anyof = [w[1:] for w in words if w.startswith("?") and len(w) > 1]
    none = [w[1:] for w in words if w.startswith("-") and len(w) > 1]
    return lambda text: (all(w in text for w in every) and (not anyof or any(w in text for w in anyof))
                         and not any(w in text for w in none))


def _stream_view(group: str, s: LogStream) -> dict[str, Any]:
    return {"logStreamName": s.name, "creationTime": s.first_ms, "firstEventTimestamp": s.first_ms,
            "lastEventTimestamp": s.last_ms, "lastIngestionTime": s.last_ms, "storedBytes": s.size,
            "arn": f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:log-stream:{s.name}"}


def _endpoint(call: Call, operation: str, body: dict[str, Any], name: str) -> dict[str, Any]:
    from slipway.services.endpoint_logs import EndpointLogs

    group = ENDPOINT_GROUPS + name
    call.authorize("endpoints:Get", f"endpoint/{name}")
    try:
        view = call.platform.endpoints.get(name)
    except (NotFound, InvalidArgument):
        raise AwsError("ResourceNotFoundException", f"Log group {group[:200]!r} does not exist: no endpoint "
                       f"{name[:80]!r}.", 400) from None
    variants = {v.get("name") for spec in [view.desired, view.live, *(d.spec for d in view.deployments)] if spec
                for v in spec.get("variants", []) if isinstance(v, dict)}
    variants |= {r.variant for r in view.replicas}
    streams = EndpointLogs(call.platform.serving.logs_dir).streams(
        name, (v for v in variants if isinstance(v, str)))
    if operation == "DescribeLogStreams":
        prefix = body.get("logStreamNamePrefix") or ""
        order = body.get("orderBy", "LogStreamName")
        if order not in ("LogStreamName", "LastEventTime"):
            raise AwsError("InvalidParameterException", f"orderBy has value {str(order)[:40]!r}; expected "
                           "LogStreamName or LastEventTime.", 400)
        if prefix and order == "LastEventTime":
            raise AwsError("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.",
                           400)
        limit = _int(body, "limit", 1, 50, 50) or 50
        chosen = [s for s in streams if s.name.startswith(prefix)]
        if order == "LastEventTime":
            chosen.sort(key=lambda s: s.last_ms)
        if body.get("descending"):
            chosen.reverse()
        start = _token_int(body.get("nextToken"), "n/")
        page = chosen[start:start + limit]
        out: dict[str, Any] = {"logStreams": [_stream_view(group, s) for s in page]}
        if start + limit < len(chosen):
            out["nextToken"] = f"n/{start + limit}"
        return out
    start_ms = _int(body, "startTime", 0, 2**62)
    end_ms = _int(body, "endTime", 0, 2**62)
    limit = _int(body, "limit", 1, 10000, 10000) or 10000

    def in_time(ts: int) -> bool:
        return (start_ms is None or ts >= start_ms) and (end_ms is None or ts < end_ms)

    if operation == "GetLogEvents":
        wanted = body.get("logStreamName")
        stream = next((s for s in streams if s.name == wanted), None)
        if stream is None:
            raise AwsError("ResourceNotFoundException", f"The log stream {str(wanted)[:200]!r} does not exist in "
                           f"{group}: streams are <variant>/<replica id> (DescribeLogStreams lists them).", 400)
        token = body.get("nextToken")
        if isinstance(token, str) and token.startswith("b/"):
            _token_int(token, "b/")
            offset = 0  # read forward only: a backward token starts from the head
        else:
            offset = _token_int(token, "f/")
        events, end = EndpointLogs(stream.path.parent).events(stream, offset)
        taken = events[:limit]
        if len(taken) < len(events):
            end = taken[-1].end if taken else offset
        return {"events": [{"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.timestamp}
                           for e in taken if in_time(e.timestamp)],
                "nextForwardToken": f"f/{end}", "nextBackwardToken": f"b/{offset}"}
    # FilterLogEvents: stream after stream, each from the start (or where the token left off)
    names = body.get("logStreamNames")
    prefix = body.get("logStreamNamePrefix")
    if names is not None and prefix is not None:
        raise AwsError("InvalidParameterException", "Give logStreamNames or logStreamNamePrefix, not both.", 400)
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise AwsError("InvalidParameterException", "logStreamNames must be a list of stream names.", 400)
        streams = [s for s in streams if s.name in names]
    elif isinstance(prefix, str):
        streams = [s for s in streams if s.name.startswith(prefix)]
    match = _matcher(body.get("filterPattern"))
    resume, at = _filter_token(body.get("nextToken"))
    found: list[dict[str, Any]] = []
    for s in streams:
        if resume is not None and s.name < resume:
            continue
        offset = at if s.name == resume else 0
        while True:
            events, end = EndpointLogs(s.path.parent).events(s, offset, final=True)
            for e in events:
                if len(found) >= limit:
                    return {"events": found, "nextToken": _make_filter_token(s.name, e.offset)}
                if in_time(e.timestamp) and match(e.message):
                    found.append({"logStreamName": s.name, "timestamp": e.timestamp, "message": e.message,
                                  "ingestionTime": e.timestamp, "eventId": f"{s.replica_id}-{e.offset}"})
            if end <= offset or not events:
                break
            offset = end
    return {"events": found}


def _token_int(token: Any, prefix: str) -> int:
    if token is None:
        return 0
    if not isinstance(token, str) or not token.startswith(prefix) or not token[len(prefix):].isdigit():
        raise AwsError("InvalidParameterException", f"nextToken {str(token)[:40]!r} is not one this server issued.",
                       400)
    return int(token[len(prefix):])


def _make_filter_token(stream: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{stream}\n{offset}".encode()).decode()


def _filter_token(token: Any) -> tuple[str | None, int]:
    if token is None:
        return None, 0
    try:
        stream, _, offset = base64.urlsafe_b64decode(str(token).encode()).decode().partition("\n")
        return stream, int(offset)
    except ValueError:
        raise AwsError("InvalidParameterException", f"nextToken {str(token)[:40]!r} is not one this server issued.",
                       400) from None


# -- training jobs: one stream per job ---------------------------------------------------------------------------


def _training(call: Call, operation: str, body: dict[str, Any]) -> dict[str, Any]:
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
    raise AwsError("InvalidParameterException", f"Operation {operation[:80]} is not supported on {GROUP} by Slipway "
                   "(it answers DescribeLogStreams and GetLogEvents there).", 400)
