"""botocore's own SageMaker service model: input validation, output checking, ARNs, times, paging.

Input is checked as SageMaker checks it: botocore's ``ParamValidator`` (required members, types,
lengths, ranges), then what it leaves out (name patterns, enums, maximum lengths), each failure a
``ValidationException`` naming the member, the value and what was expected. :func:`output_errors`
walks an operation's output shape the same way; the tests assert every answer passes it.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from slipway.compat.errors import AwsError

REGION = "us-east-1"
ACCOUNT = "000000000000"
MAX_PAGE = 100


@lru_cache(maxsize=1)
def service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def operation_model(operation: str) -> Any:
    from botocore.exceptions import OperationNotPageableError  # noqa: F401  (botocore is importable)

    model = service_model()
    if operation not in model.operation_names:
        raise AwsError("UnknownOperationException", f"SageMaker has no operation {operation!r}.")
    return model.operation_model(operation)


def arn(kind: str, name: str) -> str:
    """``arn:aws:sagemaker:<region>:<account>:<kind>/<name>`` (SageMaker lower-cases the name)."""
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


_ARN = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:([a-z\-]+)/(.+)$")


def parse_arn(value: str) -> tuple[str, str]:
    m = _ARN.match(value)
    if not m:
        raise AwsError("ValidationException",
                       f"Value {value!r} at 'resourceArn' is not a SageMaker ARN. Expected "
                       f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:<resource-type>/<name>.")
    return m.group(1), m.group(2)


def epoch(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


def to_datetime(value: Any) -> dt.datetime:
    """An input timestamp (epoch seconds on the wire, or a datetime from a direct call) as aware UTC."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    from botocore.utils import parse_timestamp

    parsed: dt.datetime = parse_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def page(items: list[Any], body: dict[str, Any], default: int = 10) -> tuple[list[Any], str | None]:
    """One page of ``items`` by ``MaxResults`` and ``NextToken`` (an offset); the next token or None."""
    token = body.get("NextToken")
    try:
        start = int(token) if token else 0
        if start < 0:
            raise ValueError
    except ValueError:
        raise AwsError("ValidationException", f"NextToken {token!r} is not a token this API returned.") from None
    size = int(body.get("MaxResults") or default)
    chunk = items[start:start + size]
    return chunk, str(start + size) if start + size < len(items) else None


def every(lister: Callable[..., Any], size: int = 500) -> list[Any]:
    """Every item of a Slipway service's paged ``list(limit=, offset=)`` (a :class:`~slipway.schemas.Page`)."""
    items: list[Any] = []
    offset = 0
    while True:
        p = lister(limit=size, offset=offset)
        items += p.items
        if p.next_page_token is None:
            return items
        offset += size


def sort_items(items: list[dict[str, Any]], body: dict[str, Any], keys: dict[str, str],
               default: str = "CreationTime") -> list[dict[str, Any]]:
    """Sort summaries by ``SortBy`` (a key of ``keys``: SageMaker's value -> member) and ``SortOrder``."""
    by = keys.get(body.get("SortBy") or default, keys[default])
    descending = (body.get("SortOrder") or "Descending") == "Descending"
    return sorted(items, key=lambda i: (i.get(by) is None, i.get(by) or 0), reverse=descending)


def matches(body: dict[str, Any], name: str, status: str | None = None) -> bool:
    """Whether a summary passes a List* operation's ``NameContains`` (case-insensitive substring) and
    ``StatusEquals`` filters; a filter the body leaves out passes everything."""
    contains = (body.get("NameContains") or "").lower()
    want = body.get("StatusEquals")
    return not (contains and contains not in name.lower() or want and status != want)


_WINDOW = (("CreationTimeAfter", "CreationTimeBefore"), ("LastModifiedTimeAfter", "LastModifiedTimeBefore"))


def in_window(body: dict[str, Any], created: float, modified: float | None = None) -> bool:
    """Whether epoch times ``created`` (and ``modified``, where the operation filters on it) lie inside a List*
    operation's ``CreationTimeAfter``/``Before`` (and ``LastModifiedTimeAfter``/``Before``) bounds. Every bound
    is exclusive ("created after", "created before", as most operations document them; botocore's text for
    ListEndpoints' and ListModels' CreationTimeAfter says "greater than or equal to", which Slipway has not
    followed). An absent bound (None) is open; with ``modified`` None the LastModifiedTime bounds are not
    applied."""
    for when, (after, before) in zip((created, modified), _WINDOW, strict=True):
        if when is None:
            continue
        if body.get(after) is not None and when <= _bound(body[after]):
            return False
        if body.get(before) is not None and when >= _bound(body[before]):
            return False
    return True


@lru_cache(maxsize=64)
def _bound(value: Any) -> float:
    """A bound as epoch seconds (kept: a list call tests the same bounds against every item)."""
    return to_datetime(value).timestamp()


# -- input ----------------------------------------------------------------------------------------

def validate_input(operation: str, body: dict[str, Any]) -> Any:
    """Check ``body`` against the operation's input shape; return the operation model."""
    from botocore.validate import ParamValidator

    op = operation_model(operation)
    if not isinstance(body, dict):
        raise AwsError("ValidationException", f"The request body of {operation} must be a JSON object.")
    if op.input_shape is None:
        return op
    report = ParamValidator().validate(_for_botocore(op.input_shape, body), op.input_shape)
    if report.has_errors():
        raise AwsError("ValidationException", report.generate_report())
    problems = _walk(op.input_shape, body, "", output=False)
    if problems:
        raise AwsError("ValidationException", f"{len(problems)} validation error(s) detected: " + "; ".join(problems))
    return op


def _for_botocore(shape: Any, value: Any) -> Any:
    """JSON-wire values as botocore's validator expects client-side ones (epoch numbers stay numbers;
    base64 blobs become bytes)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _for_botocore(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_for_botocore(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _for_botocore(shape.value, v) for k, v in value.items()}
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            return value
    return value


# -- output (and the input checks botocore leaves out) ---------------------------------------------

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "long": (int,), "boolean": (bool,), "float": (int, float),
    "double": (int, float), "timestamp": (int, float, dt.datetime), "blob": (str, bytes),
    "structure": (dict,), "list": (list,), "map": (dict,),
}


def _walk(shape: Any, value: Any, path: str, output: bool) -> list[str]:
    where = path or shape.name
    kind = shape.type_name
    expected = _TYPES.get(kind, (object,))
    if kind in ("integer", "long", "float", "double") and isinstance(value, bool):
        return [f"{where}: {value!r} is a boolean, expected {kind}"]
    if not isinstance(value, expected):
        return [f"{where}: {value!r} is {type(value).__name__}, expected {kind}"] if output else []
    problems: list[str] = []
    meta = shape.metadata
    if kind == "structure":
        for req in shape.required_members:
            if output and value.get(req) is None:
                problems.append(f"{where}.{req}: required member missing")
        for k, v in value.items():
            if k not in shape.members:
                if output:
                    problems.append(f"{where}.{k}: not a member of {shape.name}")
                continue
            if v is not None:
                problems += _walk(shape.members[k], v, f"{path}.{k}" if path else k, output)
    elif kind == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{where}: {len(value)} items, expected at most {meta['max']}")
        for i, v in enumerate(value):
            problems += _walk(shape.member, v, f"{where}[{i}]", output)
    elif kind == "map":
        for k, v in value.items():
            problems += _walk(shape.key, k, f"{where}.<key {k!r}>", output)
            problems += _walk(shape.value, v, f"{where}.{k}", output)
    elif kind == "string":
        if shape.enum and value not in shape.enum:
            problems.append(f"Value {value!r} at '{where}' failed to satisfy constraint: Member must satisfy enum "
                            f"value set: [{', '.join(shape.enum)}]")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"Value {value[:40]!r}… at '{where}' failed to satisfy constraint: Member must have "
                            f"length less than or equal to {meta['max']}")
        if output and "min" in meta and len(value) < meta["min"]:
            problems.append(f"Value {value!r} at '{where}': length under {meta['min']}")
        pattern = meta.get("pattern")
        if pattern and not _fullmatch(pattern, value):
            problems.append(f"Value {value[:80]!r} at '{where}' failed to satisfy constraint: Member must satisfy "
                            f"regular expression pattern: {pattern}")
    elif kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            problems.append(f"Value {value} at '{where}' failed to satisfy constraint: Member must have value "
                            f"greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            problems.append(f"Value {value} at '{where}' failed to satisfy constraint: Member must have value less "
                            f"than or equal to {meta['max']}")
    return problems


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:  # a Java-only construct Python's re does not read: not checked
        return None


def _fullmatch(pattern: str, value: str) -> bool:
    rx = _compiled(pattern)
    return rx is None or rx.fullmatch(value) is not None


def output_errors(operation: str, output: dict[str, Any]) -> list[str]:
    """Everything in ``output`` that does not fit the operation's output shape (empty when it fits)."""
    op = operation_model(operation)
    if op.output_shape is None:
        return [] if output == {} else [f"{operation} has no output, got {output!r}"]
    return _walk(op.output_shape, output, "", output=True)


def error_codes(operation: str) -> set[str]:
    return {s.name for s in operation_model(operation).error_shapes}


def clean(value: Any) -> Any:
    """Drop ``None`` members (SageMaker leaves absent members out of its answers)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
