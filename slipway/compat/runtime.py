"""sagemaker-runtime InvokeEndpoint on Slipway's own invocation path, when the request is SigV4-signed.

The request goes through the same gateway as ``slipway endpoints invoke`` (so metrics, capture and
variant routing are the same); the answer is shaped as botocore's sagemaker-runtime model says:
``x-Amzn-Invoked-Production-Variant``, and a model's own 4xx/5xx as HTTP 424 ``ModelError`` with
``OriginalStatusCode`` and ``OriginalMessage``.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from slipway.api.middleware import caller_request_id
from slipway.compat.dispatch import _RUNTIME_PATH, Call, Reply
from slipway.compat.errors import AwsError
from slipway.errors import NotFound, SlipwayError, Timeout, Unavailable

__all__ = ["handle"]


def _error(exc: SlipwayError) -> AwsError:
    if isinstance(exc, NotFound):
        return AwsError("ValidationError", exc.message, 400)
    if isinstance(exc, (Unavailable, Timeout)):
        return AwsError("ServiceUnavailable", exc.message, 503)
    if exc.status_code < 500:
        return AwsError("ValidationError", exc.message, exc.status_code)
    return AwsError("InternalFailure", exc.message, 500)


async def handle(call: Call) -> Reply:
    m = _RUNTIME_PATH.fullmatch(call.path)
    assert m is not None
    name = m.group(1)
    call.authorize("endpoints:Invoke", f"endpoint/{name}")
    p = call.platform
    h = call.headers
    inference_id = caller_request_id(h.get("x-amzn-sagemaker-inference-id", "").encode("latin-1"))
    rid = inference_id or call.request_id
    try:
        result = await p.serving.gateway.invoke(name, call.body, h.get("content-type") or "application/json",
                                                h.get("accept", ""), h.get("x-amzn-sagemaker-target-variant"), rid)
        if result is None:
            await run_in_threadpool(p.endpoints.explain_unrouted, name)
            raise AssertionError("explain_unrouted always raises")
    except SlipwayError as exc:
        raise _error(exc) from None
    if result.status >= 400:
        err = AwsError("ModelError", f"Received client error ({result.status}) from the model of endpoint {name} with "
                       f"message \"{result.body[:1000].decode('utf-8', 'replace')}\".", 424)
        err.extra = {"OriginalStatusCode": result.status,  # type: ignore[attr-defined]
                     "OriginalMessage": result.body[:4000].decode("utf-8", "replace")}
        raise err
    return Reply(200, [("content-type", result.content_type), ("x-amzn-invoked-production-variant", result.variant),
                       ("x-slipway-model", result.model), ("x-amzn-requestid", rid)], result.body)
