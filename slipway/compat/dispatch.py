"""One dispatch in front of Slipway's routes for the AWS protocols (plain ASGI, like slipway/api/invoke.py).

Order: ``X-Amz-Target`` (JSON 1.1: ``SageMaker.*`` → :func:`slipway.compat.sagemaker.handle`,
``Logs_20140328.*`` → CloudWatch Logs), then a SigV4-signed ``POST /endpoints/{name}/invocations``
(sagemaker-runtime), then STS, then S3 (by the service of the credential scope). Anything else, a
request without an AWS signature in particular, goes on to Slipway's own routes untouched; an
unsigned request in an AWS protocol (``X-Amz-Target``, STS's form post) gets 401 in that protocol's
error shape.

Every call is authenticated with an AWS access key (``slipway keys create --aws``, SigV4 checked by
:mod:`slipway.compat.sigv4`), which yields the same :class:`~slipway.services.auth.Principal` as an
API key; each operation is checked against one Slipway action with the same policy evaluation as the
routes, and leaves ``action``/``resource``/``user`` in the request state for the audit middleware.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from slipway.compat import sigv4
from slipway.compat.errors import AwsError, from_bucket_error
from slipway.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    SlipwayError,
    TooManyRequests,
    Unauthorized,
)
from slipway.services.buckets import BucketError

__all__ = ["OPERATION_ACTIONS", "AwsDispatch", "Call", "Reply", "aws_error_for"]

log = logging.getLogger("slipway.compat")

JSON_11 = "application/x-amz-json-1.1"
SIGNATURE_ACTION = "auth:AwsSignature"  # audit-only: the name a refused AWS signature is recorded under
_RUNTIME_PATH = re.compile(r"/endpoints/([^/]+)/invocations")

# Each SageMaker operation as a Slipway action on a resource (the same names and policy evaluation as the
# REST routes; ``{Field}`` is read from the request body, ``*`` when it is not there).
OPERATION_ACTIONS: dict[str, tuple[str, str]] = {
    "DeleteTags": ("tags:Update", "*"),
    "ListEndpointConfigs": ("endpoints:List", "endpoint-config/*"),
    "DescribeModelPackageGroup": ("models:Get", "model/{ModelPackageGroupName}"),
    "ListModelPackageGroups": ("models:List", "model/*"),
    "CreateTrainingJob": ("jobs:Create", "job/{TrainingJobName}"),
    "DescribeTrainingJob": ("jobs:Get", "job/{TrainingJobName}"),
    "ListTrainingJobs": ("jobs:List", "job/*"),
    "StopTrainingJob": ("jobs:Stop", "job/{TrainingJobName}"),
    "CreateHyperParameterTuningJob": ("tuning:Create", "tuning/{HyperParameterTuningJobName}"),
    "DescribeHyperParameterTuningJob": ("tuning:Get", "tuning/{HyperParameterTuningJobName}"),
    "ListHyperParameterTuningJobs": ("tuning:List", "tuning/*"),
    "StopHyperParameterTuningJob": ("tuning:Stop", "tuning/{HyperParameterTuningJobName}"),
    "ListTrainingJobsForHyperParameterTuningJob": ("tuning:Get", "tuning/{HyperParameterTuningJobName}"),
    "CreateModel": ("models:Create", "model/{ModelName}"),
    "DescribeModel": ("models:Get", "model/{ModelName}"),
    "DeleteModel": ("models:Delete", "model/{ModelName}"),
    "ListModels": ("models:List", "model/*"),
    "CreateEndpointConfig": ("endpoints:Create", "endpoint-config/{EndpointConfigName}"),
    "DescribeEndpointConfig": ("endpoints:Get", "endpoint-config/{EndpointConfigName}"),
    "DeleteEndpointConfig": ("endpoints:Delete", "endpoint-config/{EndpointConfigName}"),
    "CreateEndpoint": ("endpoints:Create", "endpoint/{EndpointName}"),
    "DescribeEndpoint": ("endpoints:Get", "endpoint/{EndpointName}"),
    "UpdateEndpoint": ("endpoints:Update", "endpoint/{EndpointName}"),
    "UpdateEndpointWeightsAndCapacities": ("endpoints:Update", "endpoint/{EndpointName}"),
    "DeleteEndpoint": ("endpoints:Delete", "endpoint/{EndpointName}"),
    "ListEndpoints": ("endpoints:List", "endpoint/*"),
    "CreateModelPackageGroup": ("models:Create", "model/{ModelPackageGroupName}"),
    "CreateModelPackage": ("models:Create", "model/{ModelPackageGroupName}"),
    "DescribeModelPackage": ("models:Get", "model/*"),
    "ListModelPackages": ("models:List", "model/*"),
    "UpdateModelPackage": ("models:Update", "model/*"),
    "AddTags": ("tags:Update", "*"),
    "ListTags": ("tags:List", "*"),
    "CreateTransformJob": ("transforms:Create", "transform/{TransformJobName}"),
    "DescribeTransformJob": ("transforms:Get", "transform/{TransformJobName}"),
    "ListTransformJobs": ("transforms:List", "transform/*"),
    "StopTransformJob": ("transforms:Stop", "transform/{TransformJobName}"),
}


def resource_for(template: str, body: dict[str, Any]) -> str:
    """``template`` with ``{Field}`` filled from the body: names only (a non-name value is '*')."""
    def fill(m: re.Match[str]) -> str:
        value = body.get(m.group(1))
        return value if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", value) else "*"

    return re.sub(r"\{([A-Za-z]+)\}", fill, template)


def aws_error_for(exc: SlipwayError) -> AwsError:
    """A Slipway error as the AWS error a SageMaker client expects (a bucket's, as the S3 error it stands for)."""
    if isinstance(exc, BucketError):
        return from_bucket_error(exc)
    if isinstance(exc, NotFound):
        return AwsError("ResourceNotFound", exc.message, 400)
    if isinstance(exc, (AlreadyExists, Conflict)):
        return AwsError("ResourceInUse", exc.message, 400)
    if isinstance(exc, Forbidden):
        return AwsError("AccessDeniedException", exc.message, 403)
    if isinstance(exc, TooManyRequests):
        return AwsError("ThrottlingException", exc.message, 429)
    if isinstance(exc, Unauthorized):
        return AwsError("UnrecognizedClientException", exc.message, 401)
    if isinstance(exc, PayloadTooLarge):
        return AwsError("ValidationException", exc.message, 413)
    if isinstance(exc, InvalidArgument) or 400 <= exc.status_code < 500:
        return AwsError("ValidationException", exc.message, 400)
    return AwsError("InternalFailure", exc.message, 500)


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterator[bytes] = b""
    length: int | None = None  # of a streamed body (Content-Length), or of a HEAD answer


@dataclass
class Call:
    """One AWS-protocol request: what it says, who signed it, and its state for the audit trail."""

    platform: Any
    scope: Scope
    receive: Receive
    protocol: str  # sagemaker | logs | runtime | sts | s3
    headers: dict[str, str]
    header_pairs: list[tuple[str, str]]
    query: str
    sig: sigv4.SigV4 | None
    principal: Any = None
    body: bytes = b""
    body_read: bool = False

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def state(self) -> dict[str, Any]:
        return self.scope.setdefault("state", {})  # type: ignore[no-any-return]

    @property
    def request_id(self) -> str:
        return str(self.state.get("request_id", ""))

    @property
    def source(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else ""

    def declare(self, action: str, resource: str) -> None:
        """Name the action for the audit trail without checking it (the caller checks it next)."""
        self.state["action"], self.state["resource"] = action, resource

    def authorize(self, action: str, resource: str) -> None:
        """The same policy check as a route's ``permission``; AccessDenied (403) in the protocol's shape."""
        self.declare(action, resource)
        try:
            self.platform.auth.authorize(self.principal, action, resource)
        except Forbidden as exc:
            self.state["error_message"] = exc.message
            raise AwsError("AccessDenied" if self.protocol == "s3" else "AccessDeniedException", exc.message,
                           403) from None

    async def read_body(self, limit: int) -> bytes:
        """The whole body (once: a second call answers what the first read)."""
        if self.body_read:
            return self.body
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise AwsError("RequestTimeout", "The client went away before the body was read.", 400)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise AwsError("ValidationException", f"The request body is over the limit of {limit} bytes.", 413)
            chunks.append(chunk)
            more = message.get("more_body", False)
        self.body, self.body_read = b"".join(chunks), True
        return self.body


def _protocol(headers: dict[str, str], sig: sigv4.SigV4 | None, method: str, path: str) -> str | None:
    target = headers.get("x-amz-target")
    if target is not None:
        return "logs" if target.startswith("Logs_") else "sagemaker"
    if sig is None:
        ctype = headers.get("content-type", "")
        if method == "POST" and path == "/" and ctype.startswith("application/x-www-form-urlencoded"):
            return "sts"  # an unsigned STS call: refused in STS's shape
        return None
    if sig.service == "sagemaker" and method == "POST" and _RUNTIME_PATH.fullmatch(path):
        return "runtime"
    if sig.service in ("sts", "s3", "logs", "sagemaker"):
        return sig.service
    return "unknown"


class AwsDispatch:
    def __init__(self, app: ASGIApp, platform: Any) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_query: bytes = scope.get("query_string", b"")
        if not (scope["method"] == "POST" and scope["path"] == "/") and b"X-Amz-Algorithm=" not in raw_query and not any(
                k == b"x-amz-target" or (k == b"authorization" and v.startswith(b"AWS4-"))
                for k, v in scope.get("headers", ())):
            await self.app(scope, receive, send)  # Slipway's own routes: the common case costs one scan
            return
        pairs = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope.get("headers", ())]
        headers: dict[str, str] = {}
        for k, v in pairs:
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        query = raw_query.decode("latin-1")
        try:
            sig = sigv4.parse(headers, query)
        except AwsError as exc:
            sig, early = None, exc
        else:
            early = None
        protocol = _protocol(headers, sig, scope["method"], scope["path"])
        if protocol is None:
            await self.app(scope, receive, send)
            return
        call = Call(self.platform, scope, receive, protocol, headers, pairs, query, sig)
        try:
            if early is not None:
                raise early
            reply = await self._handle(call)
        except AwsError as exc:
            if exc.status >= 400:
                call.state.setdefault("error_message", exc.message)
            reply = error_reply(call, exc)
        except SlipwayError as exc:
            reply = error_reply(call, aws_error_for(exc))
        except Exception:
            log.exception("Unhandled error in AWS %s call %s %s (request %s)", protocol, scope["method"],
                          scope["path"], call.request_id)
            reply = error_reply(call, AwsError("InternalFailure", "Internal error; quote request id "
                                               f"{call.request_id} when reporting it.", 500))
        if reply.status >= 400 and not call.body_read and (headers.get("content-length", "0") != "0"
                                                           or "transfer-encoding" in headers):
            reply.headers.append(("connection", "close"))  # a body left unread must not be read as the next request
        await _send(send, reply, scope["method"] == "HEAD")

    async def _authenticate(self, call: Call) -> None:
        sig = call.sig
        if sig is None:
            raise AwsError("MissingAuthenticationToken", "Request is missing an AWS Signature Version 4 "
                           "(Authorization header). Create an access key with `slipway keys create --aws` and set "
                           "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.", 401)
        sigv4.check_time(sig)
        auth = self.platform.auth
        try:
            principal, secret = await run_in_threadpool(auth.aws_key, sig.access_key, call.source)
        except Unauthorized:
            code = "InvalidAccessKeyId" if call.protocol == "s3" else "UnrecognizedClientException" \
                if call.protocol != "sts" else "InvalidClientTokenId"
            raise AwsError(code, f"The AWS access key id {sig.access_key[:32]} is not valid: unknown, revoked or "
                           "expired, or its user is disabled.", 403) from None
        payload = sigv4.payload_hash(sig, call.headers)
        if payload is None:
            call.body = await call.read_body(self.platform.settings.max_payload_bytes)
            payload = hashlib.sha256(call.body).hexdigest()
        try:
            sigv4.verify(sig, secret, call.method, call.scope.get("raw_path", b"").decode("latin-1")
                         or call.path, call.query, call.header_pairs, payload)
        except AwsError:
            try:
                await run_in_threadpool(auth.aws_signature_failed, call.source, sig.access_key)
            except TooManyRequests as exc:
                raise AwsError("ThrottlingException", exc.message, 429) from None
            except Unauthorized:
                pass
            raise
        call.principal = principal
        call.state.update(principal=principal, user=principal.user, key_id=principal.key_id)

    async def _handle(self, call: Call) -> Reply:
        call.state["key_id"] = call.sig.access_key[:32] if call.sig else ""
        # A refused signature is in the audit trail like a refused bearer key (under this name, before the
        # operation is known); once the caller is known, each operation declares its own action.
        call.declare(SIGNATURE_ACTION, f"key/{call.state['key_id'] or '*'}")
        await self._authenticate(call)
        call.state.pop("action", None)
        if call.protocol == "s3":
            from slipway.compat import s3

            return await s3.handle(call)
        await call.read_body(self.platform.settings.max_payload_bytes)
        if call.protocol == "runtime":
            from slipway.compat import runtime

            return await runtime.handle(call)
        if call.protocol == "sts":
            from slipway.compat import sts

            return await run_in_threadpool(sts.handle, call)
        if call.protocol in ("sagemaker", "logs"):
            return await run_in_threadpool(self._json, call)
        raise AwsError("UnknownOperationException", f"Service {call.sig.service if call.sig else '?'!r} is not "
                       "served by Slipway (it speaks sagemaker, sagemaker-runtime, s3, sts and logs).", 400)

    def _json(self, call: Call) -> Reply:
        target = call.headers.get("x-amz-target", "")
        prefix, _, operation = target.partition(".")
        try:
            body = json.loads(call.body or b"{}")
        except ValueError as exc:
            raise AwsError("SerializationException", f"The request body is not JSON: {exc}.", 400) from None
        if not isinstance(body, dict):
            raise AwsError("SerializationException", "The request body must be a JSON object.", 400)
        if call.protocol == "logs":
            from slipway.compat import logs

            out = logs.handle(call, operation, body)
        elif prefix == "SageMaker":
            if operation not in OPERATION_ACTIONS:
                raise AwsError("UnknownOperationException", f"Operation SageMaker.{operation[:80]} is not supported "
                               "by Slipway (docs/sagemaker.md lists the operations).", 400)
            action, template = OPERATION_ACTIONS[operation]
            call.authorize(action, resource_for(template, body))
            from slipway.compat import sagemaker

            out = sagemaker.handle(self.platform, call.principal, operation, body)
        else:
            raise AwsError("UnknownOperationException", f"X-Amz-Target {target[:80]!r} is not a service Slipway "
                           "speaks (SageMaker.*, Logs_20140328.*).", 400)
        return Reply(200, [("content-type", JSON_11)], json.dumps(out, default=_json_default).encode())


def _json_default(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, dt.datetime):
        return value.timestamp()  # JSON protocols send timestamps as epoch seconds
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def error_reply(call: Call, exc: AwsError) -> Reply:
    rid = call.request_id
    if call.protocol in ("s3", "sts"):
        from xml.sax.saxutils import escape

        if call.protocol == "s3":
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(exc.code)}</Code><Message>'
                    f"{escape(exc.message)}</Message><RequestId>{rid}</RequestId></Error>")
            headers = [("content-type", "application/xml"), ("x-amz-request-id", rid)]
        else:
            kind = "Sender" if exc.status < 500 else "Receiver"
            body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type>'
                    f"<Code>{escape(exc.code)}</Code><Message>{escape(exc.message)}</Message></Error>"
                    f"<RequestId>{rid}</RequestId></ErrorResponse>")
            headers = [("content-type", "text/xml"), ("x-amzn-requestid", rid)]
        return Reply(exc.status, headers, body.encode())
    ctype = JSON_11 if call.protocol in ("sagemaker", "logs") else "application/json"
    body_json = {"__type": exc.code, "message": exc.message}
    if exc.code == "ModelError" and hasattr(exc, "extra"):
        body_json.update(exc.extra)
    return Reply(exc.status, [("content-type", ctype), ("x-amzn-errortype", exc.code), ("x-amzn-requestid", rid)],
                 json.dumps(body_json).encode())


async def _send(send: Send, reply: Reply, head: bool) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    if isinstance(reply.body, bytes):
        length = reply.length if reply.length is not None and head else len(reply.body)
        headers.append((b"content-length", str(length).encode()))
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else reply.body})
        return
    if reply.length is not None:
        headers.append((b"content-length", str(reply.length).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    chunks = reply.body
    try:
        while True:
            block = await run_in_threadpool(next, chunks, None)
            if block is None:
                break
            await send({"type": "http.response.body", "body": block, "more_body": True})
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    await send({"type": "http.response.body", "body": b""})
