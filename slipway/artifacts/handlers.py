"""SageMaker inference handlers: the one loader, and the one predictor that runs them over a flavor's defaults.

Handlers (``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``, ``transform_fn``) come from
``code/inference.py`` or, in script mode, from the training entry point that travels with the model as
``code/<entry_point>`` (SageMaker's framework containers serve the entry point itself, whose training code
sits under ``if __name__ == "__main__"``). A missing handler falls back to the flavor's ``Defaults``, which
behave like that framework's SageMaker container: JSON, CSV and .npy in and out, bare arrays out.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from slipway.artifacts.manifest import Manifest
from slipway.errors import InvalidArgument, ModelError, SlipwayError, UnsupportedMediaType

__all__ = ["CUSTOM_ATTRIBUTES", "HANDLERS", "SAGEMAKER_HEADER", "Context", "Defaults", "HandlerPredictor", "call", "handler_file",
           "load_handlers", "user_body"]

HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
UTF8_TYPES = ("application/json", "application/jsonlines", "application/x-www-form-urlencoded")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
# Set by Slipway's SageMaker paths (sagemaker-runtime, SageMaker transform jobs) on a request to a replica: a
# built-in XGBoost model then answers as SageMaker's XGBoost container does (bare scores), not Slipway's shape.
SAGEMAKER_HEADER = "x-slipway-sagemaker"


class _RequestProcessor:
    def __init__(self, properties: dict[str, str]) -> None:
        self._properties = properties

    def get_request_properties(self) -> dict[str, str]:
        return dict(self._properties)

    def get_request_property(self, key: str) -> str | None:
        return _lookup(self._properties, key)


def _lookup(headers: dict[str, str], key: str) -> str | None:
    want = key.lower()
    return next((v for k, v in headers.items() if k.lower() == want), None)


class Context:
    """The request context a handler may take as its last argument, as the SageMaker inference toolkit
    passes its model server's: request headers in (``get_request_header(0, name)``,
    ``request_processor[0].get_request_properties()``), response headers out (``set_response_header``).

    Only ``X-Amzn-SageMaker-Custom-Attributes`` set by a handler travels back to the caller.
    """

    def __init__(self, headers: dict[str, str], model_dir: str = "") -> None:
        self.request_processor = [_RequestProcessor(headers)]
        self.system_properties = {"model_dir": model_dir, "batch_size": 1}
        self.response_headers: dict[str, str] = {}
        self.response_content_type: str | None = None

    def get_request_header(self, idx: int, key: str) -> str | None:
        return self.request_processor[idx].get_request_property(key)

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        return self.request_processor[idx].get_request_properties()

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        self.response_headers[key] = str(value)

    def set_response_content_type(self, idx: int, value: str) -> None:
        self.response_content_type = str(value)

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        pass  # a handler's own status is not passed on: raise to fail the request

    @property
    def custom_attributes(self) -> str | None:
        """The custom attributes to send back: what a handler set, else None (the header stays absent)."""
        return _lookup(self.response_headers, CUSTOM_ATTRIBUTES)


@dataclass(frozen=True)
class Defaults:
    """A framework container's default handlers (each may raise InvalidArgument for bad input)."""

    model_fn: Callable[[str], Any]
    input_fn: Callable[[Any, str], Any]
    predict_fn: Callable[[Any, Any], Any]
    output_fn: Callable[[Any, str], tuple[bytes, str]]


def handler_file(folder: Path, manifest: Manifest | None) -> Path | None:
    """code/inference.py, else the entry point the job ran (script mode), else None."""
    code = Path(folder) / "code"
    if (code / "inference.py").is_file():
        return code / "inference.py"
    if manifest is not None and manifest.entry_point and (code / manifest.entry_point).is_file():
        return code / manifest.entry_point
    return None


def load_handlers(folder: Path, manifest: Manifest | None) -> dict[str, Callable[..., Any]]:
    """The handlers the model's code defines (an empty dict when it has none).

    The code's folder goes on sys.path first, so helper modules beside it import as in the container; Slipway's
    stand-ins for the containers' own modules (slipway/training/shims) go last.
    The module gets a private name (never ``__main__``): an entry point's training code does not run.
    """
    path = handler_file(folder, manifest)
    if path is None:
        return {}
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    from slipway.training.shims import PATH as shims

    if shims not in sys.path:  # what SageMaker's containers ship (sagemaker_training…), after what is installed
        sys.path.append(shims)
    name = "slipway_handlers_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return _handlers_of(module)


def _handlers_of(module: ModuleType) -> dict[str, Callable[..., Any]]:
    return {h: getattr(module, h) for h in HANDLERS if callable(getattr(module, h, None))}


def call(fn: Callable[..., Any], *args: Any, context: Any = None) -> Any:
    """Handlers may take an extra trailing ``context`` argument (sagemaker-inference 2.x)."""
    try:
        params = inspect.signature(fn).parameters.values()
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) > len(args):
            return fn(*args, context)
    except (TypeError, ValueError):
        pass
    return fn(*args)


def user_body(body: bytes, content_type: str) -> bytes | str:
    """What the containers hand input_fn: text for text and JSON types, bytes otherwise."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct.startswith("text/") or ct in UTF8_TYPES:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    return body


def _concrete(accept: str, fallback: str) -> str:
    first = (accept or "").split(",", 1)[0].split(";", 1)[0].strip()
    return first if first and "*" not in first else fallback


def normalize_output(out: Any, accept: str, encode: Callable[[Any, str], tuple[bytes, str]]) -> tuple[bytes, str]:
    """What output_fn / transform_fn may return: bytes, str, (body, content_type), or a value to encode."""
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], str):
        body, ct = out
        data, _ = normalize_output(body, accept, encode)
        return data, ct
    if isinstance(out, (bytes, bytearray, memoryview)):
        return bytes(out), _concrete(accept, "application/octet-stream")
    if isinstance(out, str):
        return out.encode("utf-8"), _concrete(accept, "text/plain; charset=utf-8")
    return encode(out, "application/json")


def _rejects_type(exc: BaseException, content_type: str) -> bool:
    text = str(exc).lower()
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    return bool(ct and ct in text) or "content type" in text or "content-type" in text or "unsupported" in text


class HandlerPredictor:
    """A model behind SageMaker handlers: the user's where given, the flavor's ``Defaults`` otherwise.

    ``invoke`` raises InvalidArgument (400; 415 for a Content-Type the input_fn refuses) for a request the
    handlers reject and ModelError (500, the handler's own message) when they fail; nothing else.
    """

    runtime = "custom code"

    def __init__(self, framework: str, handlers: dict[str, Callable[..., Any]], defaults: Defaults,
                 model_dir: Path, labels: list[str] | None = None) -> None:
        self.framework = framework
        self.handlers = handlers
        self.defaults = defaults
        self.labels = labels or []
        self.model_dir = str(model_dir)
        self.model = self._run("model_fn", handlers.get("model_fn"), defaults.model_fn, str(model_dir))

    def _run(self, stage: str, user: Callable[..., Any] | None, default: Callable[..., Any], *args: Any,
             context: Context | None = None) -> Any:
        if user is None:
            return default(*args)
        try:
            return call(user, *args, context=context)
        except SlipwayError:
            raise
        except Exception as exc:  # the user's code failed: say where and why, keep the replica up
            first = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
            if stage == "input_fn" and len(args) > 1 and _rejects_type(exc, args[1]):
                raise UnsupportedMediaType(
                    f"input_fn rejected Content-Type {args[1]!r}: {type(exc).__name__}: {first}",
                    {"field": "Content-Type", "value": args[1], "stage": stage}) from exc
            if stage == "input_fn" and isinstance(exc, (ValueError, TypeError, KeyError, UnicodeDecodeError)):
                raise InvalidArgument(f"input_fn rejected the request: {type(exc).__name__}: {first}",
                                      {"stage": stage}) from exc
            raise ModelError(f"{stage} failed: {type(exc).__name__}: {first}", {"stage": stage}) from exc

    def invoke(self, body: bytes, content_type: str = "application/json",
               accept: str = "application/json", context: Context | None = None) -> tuple[bytes, str]:
        """One request through transform_fn, or input_fn -> predict_fn -> output_fn.

        ``context`` (a :class:`Context`) reaches the handlers that take one more argument, as in the toolkit.
        """
        h, d = self.handlers, self.defaults
        if context is None:
            context = Context({"Content-Type": content_type, "Accept": accept}, self.model_dir)
        if "transform_fn" in h:
            out = self._run("transform_fn", h["transform_fn"], None,  # type: ignore[arg-type]
                            self.model, user_body(body, content_type), content_type, accept, context=context)
            return normalize_output(out, accept, d.output_fn)
        data = self._run("input_fn", h.get("input_fn"), d.input_fn,
                         user_body(body, content_type) if "input_fn" in h else body, content_type, context=context)
        prediction = self._run("predict_fn", h.get("predict_fn"), d.predict_fn, data, self.model, context=context)
        if "output_fn" in h:
            return normalize_output(self._run("output_fn", h["output_fn"], None,  # type: ignore[arg-type]
                                              prediction, accept, context=context), accept, d.output_fn)
        return d.output_fn(prediction, accept)

    def predict(self, inputs: Any) -> Any:
        """The model's raw prediction for decoded JSON instances (no input_fn/output_fn)."""
        import orjson

        from slipway.serving.payloads import jsonable

        data = self._run("input_fn", self.handlers.get("input_fn"), self.defaults.input_fn,
                         orjson.dumps(jsonable(inputs)).decode(), "application/json")
        return self._run("predict_fn", self.handlers.get("predict_fn"), self.defaults.predict_fn, data, self.model)
