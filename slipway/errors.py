"""Slipway's error tree: every failure a user can act on carries an HTTP status and a stable code.

    SlipwayError (500, internal)
    ├── InvalidArgument  (400, invalid_argument)
    │   ├── NotAcceptable        (406, not_acceptable)          an Accept the model cannot answer in
    │   └── UnsupportedMediaType (415, unsupported_media_type)  a Content-Type the model cannot read
    ├── Unauthorized     (401, unauthorized)
    ├── Forbidden        (403, forbidden)
    ├── NotFound         (404, not_found)
    ├── AlreadyExists    (409, already_exists)
    ├── Conflict         (409, conflict)
    ├── PayloadTooLarge  (413, payload_too_large)
    ├── ModelError       (500, model_error)        a model or its handlers failed on a request
    ├── TooManyRequests  (429, too_many_requests)
    ├── Unavailable      (503, unavailable)
    ├── Timeout          (504, timeout)
    ├── ServerNotRunning (—, server_not_running)   raised by the SDK only
    └── JobFailed        (—, job_failed)           raised by the SDK when a waited-on job fails

The API renders any of them as ``{"error": {"code", "message", "details", "request_id"}}``
and the SDK turns that shape back into the same class.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidArgument",
    "JobFailed",
    "ModelError",
    "NotAcceptable",
    "NotFound",
    "PayloadTooLarge",
    "ServerNotRunning",
    "SlipwayError",
    "Timeout",
    "TooManyRequests",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "error_class_for_code",
    "invalid_argument_from_validation",
]


class SlipwayError(Exception):
    """Root of every error Slipway raises on purpose."""

    status_code: int = 500
    code: str = "internal"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class InvalidArgument(SlipwayError):
    status_code = 400
    code = "invalid_argument"


class NotAcceptable(InvalidArgument):
    status_code = 406
    code = "not_acceptable"


class UnsupportedMediaType(InvalidArgument):
    status_code = 415
    code = "unsupported_media_type"


class Unauthorized(SlipwayError):
    status_code = 401
    code = "unauthorized"


class Forbidden(SlipwayError):
    status_code = 403
    code = "forbidden"


class NotFound(SlipwayError):
    status_code = 404
    code = "not_found"


class AlreadyExists(SlipwayError):
    status_code = 409
    code = "already_exists"


class Conflict(SlipwayError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(SlipwayError):
    status_code = 413
    code = "payload_too_large"


class ModelError(SlipwayError):
    status_code = 500
    code = "model_error"


class TooManyRequests(SlipwayError):
    status_code = 429
    code = "too_many_requests"


class Unavailable(SlipwayError):
    status_code = 503
    code = "unavailable"


class Timeout(SlipwayError):
    status_code = 504
    code = "timeout"


class ServerNotRunning(SlipwayError):
    status_code = 503
    code = "server_not_running"


class JobFailed(SlipwayError):
    status_code = 500
    code = "job_failed"


_BY_CODE: dict[str, type[SlipwayError]] = {
    cls.code: cls
    for cls in (
        SlipwayError,
        InvalidArgument,
        NotAcceptable,
        UnsupportedMediaType,
        Unauthorized,
        Forbidden,
        NotFound,
        AlreadyExists,
        Conflict,
        PayloadTooLarge,
        ModelError,
        TooManyRequests,
        Unavailable,
        Timeout,
        ServerNotRunning,
        JobFailed,
    )
}


def error_class_for_code(code: str) -> type[SlipwayError]:
    """The class the server used for ``code``; unknown codes map to the root class."""
    return _BY_CODE.get(code, SlipwayError)


# Fields whose value is never repeated in an error (pydantic's errors carry the input): a secret's value,
# a password, a key or token. The whole body is not repeated either: it may be any of these.
_SENSITIVE = re.compile(r"value|secret|password|passw|key|token|credential", re.IGNORECASE)


def _sensitive(loc: Any) -> bool:
    parts = [str(p) for p in loc or ()]
    return parts in (["body"], []) or any(_SENSITIVE.search(p) for p in parts)


def _scrub(msg: str, value: Any) -> str:
    """``msg`` without the input in it (a custom validator's message may quote it)."""
    text = value if isinstance(value, str) else str(value) if isinstance(value, (int, float)) else ""
    return msg.replace(text, "***") if text else msg


def invalid_argument_from_validation(errors: list[Any]) -> InvalidArgument:
    """Pydantic's validation errors (``exc.errors()``) as one InvalidArgument whose one-line message names
    the field, the value and what was expected: the API's handler and the CLI both render it. The value of a
    field named like a secret, key or password is never repeated."""
    first = errors[0] if errors else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc) or (str(first["loc"][0]) if first.get("loc") else "request")
    value = first.get("input")
    expected = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    more = f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the request)" if len(errors) > 1 else ""
    hidden = _sensitive(first.get("loc"))
    if hidden:
        message = f"Field {field!r} is not valid (its value is not repeated): {_scrub(expected, value)}.{more}"
    else:
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        message = f"Field {field!r} has value {shown}: {expected}.{more}"
    message = message.replace("..", ".")
    listed = [{"loc": [str(p) for p in e.get("loc", ())],
               "msg": _scrub(str(e.get("msg")), e.get("input")) if _sensitive(e.get("loc")) else e.get("msg")}
              for e in errors[:20]]
    details = {"field": field,
               "value": None if hidden or not isinstance(value, (int, float, str, bool)) else value,
               "expected": _scrub(expected, value) if hidden else expected, "errors": listed}
    return InvalidArgument(message, details)
