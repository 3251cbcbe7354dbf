"""sagemaker-runtime InvokeEndpoint on Slipway's own invocation path, when the request is SigV4-signed.

The request goes through the same gateway as ``slipway endpoints invoke`` (so metrics, capture and
variant routing are the same); the answer is shaped as botocore's sagemaker-runtime model says:
``x-Amzn-Invoked-Production-Variant``, and a model's own 4xx/5xx as HTTP 424 ``ModelError`` with
``OriginalStatusCode`` and ``OriginalMessage``. ``X-Amzn-SageMaker-Custom-Attributes`` reaches the model's
handlers (their ``context``) and comes back only when a handler sets it. A built-in XGBoost model answers
as SageMaker's XGBoost container (bare scores), where Slipway's own route answers label and confidence.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from slipway.api.middleware import caller_request_id
from slipway.artifacts.handlers import SAGEMAKER_HEADER
from slipway.compat.dispatch import _RUNTIME_PATH, Call, Reply
from slipway.compat.errors import AwsError
from slipway.errors import NotFound, SlipwayError, Timeout, Unavailable

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"

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
    extra = {SAGEMAKER_HEADER: "1"}
    attributes = h.get(CUSTOM_ATTRIBUTES)
    if attributes is not None:
        if len(attributes) > 1024 or not all(" " <= c <= "~" or c == "\t" for c in attributes):
            raise AwsError("ValidationError", f"Value {attributes[:100]!r} at 'customAttributes' failed to satisfy "
                           "constraint: at most 1024 visible US-ASCII characters.", 400)
        extra[CUSTOM_ATTRIBUTES] = attributes
    try:
        result = await p.serving.gateway.invoke(name, call.body, h.get("content-type") or "application/json",
                                                h.get("accept", ""), h.get("x-amzn-sagemaker-target-variant"), rid,
                                                extra)
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
    headers = [("content-type", result.content_type), ("x-amzn-invoked-production-variant", result.variant),
               ("x-slipway-model", result.model), ("x-amzn-requestid", rid)]
    if result.custom_attributes is not None:  # only when the model's handler set them, as SageMaker
        headers.append((CUSTOM_ATTRIBUTES, result.custom_attributes))
    return Reply(200, headers, result.body)
