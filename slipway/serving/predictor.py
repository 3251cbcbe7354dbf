"""Loads one model artifact through its flavor and answers invocations; the replica's view of a model.

Models without handlers run through their flavor's predictor, with a fast path for numeric rows (the
verified ONNX export when there is one). Models with SageMaker handlers (code/inference.py or the training
entry point) run through them over their flavor's container defaults. ``Predictor.invoke`` never raises:
every outcome is (status, body, content type), so a bad request or a failing handler cannot take the
replica down.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from slipway.artifacts.flavors import flavor
from slipway.artifacts.handlers import CUSTOM_ATTRIBUTES, SAGEMAKER_HEADER, Context, HandlerPredictor, load_handlers
from slipway.artifacts.manifest import NUMERIC, Manifest
from slipway.errors import NotAcceptable, SlipwayError

__all__ = ["SAGEMAKER_HEADER", "Predictor", "error_body", "xgboost_container_answer"]

log = logging.getLogger("slipway.serving")
FAST_ACCEPT = ("application/json", "*/*")
NPY_FAST = ("application/x-npy", "application/npy")
# Loaded whole by their flavor (their own handlers included): networks whose inputs only the model knows.
DEEP_FRAMEWORKS = ("pytorch", "keras")


def error_body(code: str, message: str, details: dict[str, Any] | None = None, request_id: str | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or {},
                                   "request_id": request_id}})


class Predictor:
    """A loaded model: ``load`` once at start, ``invoke`` per request (thread-safe for estimator models)."""

    def __init__(self, folder: Path, onnx: bool = True) -> None:
        self.folder = Path(folder)
        self.use_onnx = onnx
        # An OnnxModel (an OnnxNet for a built-in network) when a verified export serves instead of the original
        # and the framework is not loaded: the replica then forks a worker per core.
        self.onnx: Any = None
        self.runtime = "none"
        self.fast = False  # rows of a plain numeric JSON body can go straight to the model as an array
        self.fast_mixed = False  # … as an object array of strings and numbers (string columns, ONNX export)
        self._strings: list[bool] = []
        self.manifest = Manifest.read(self.folder)
        self.signature: dict[str, Any] = self.manifest.signature.to_dict()
        self.problem = self.manifest.problem_type
        self.handlers: dict[str, Any] = {}
        self.model: Any = None
        self.warm_seconds: float | None = None  # time of the warm-up prediction, when there was one
        self.deep: Any = None  # a network's predictor (pytorch, keras), which decodes and answers itself
        self.estimator: Any = None  # an EstimatorPredictor (sklearn, xgboost, lightgbm)
        self.custom: HandlerPredictor | None = None  # a model behind SageMaker handlers
        self._names = self.manifest.signature.names

    def load(self) -> None:
        os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch, also for user code importing it
        framework = self.manifest.framework
        module = flavor(framework)
        if framework in DEEP_FRAMEWORKS:
            self.deep = module.load(self.folder, self.manifest, onnx=self.use_onnx)
            self.runtime = self.deep.runtime
            self.onnx = getattr(self.deep, "onnx", None)
            return
        self.handlers = load_handlers(self.folder, self.manifest)
        # A script's model (its entry point recorded) answers as SageMaker's container for its framework
        # would, handlers or not; built-ins and imported estimators answer Slipway's label/confidence shape.
        if self.handlers or framework == "custom" or self.manifest.entry_point:
            self.custom = HandlerPredictor(framework, self.handlers, module.defaults(self.manifest), self.folder,
                                           self.manifest.signature.labels)
            self.model = self.custom.model
            self.runtime = "custom code"
            return
        predictor = module.load(self.folder, self.manifest, onnx=self.use_onnx)
        self.runtime = predictor.runtime
        if hasattr(predictor, "predict_rows"):
            self.estimator = predictor
            self.predict_rows = predictor.predict_rows  # type: ignore[method-assign]  # one call less per request
            self.model, self.onnx = predictor.model, predictor.onnx
            self.fast = self.problem is not None and self.manifest.signature.numeric
            # A table with string columns on its ONNX export: JSON rows go to it as an object array.
            self.fast_mixed = self.problem is not None and getattr(self.onnx, "columns", None) is not None
            self.fast = self.fast or self.fast_mixed
            self._strings = [i.get("dtype", "float64") not in NUMERIC for i in self.manifest.signature.inputs]
        else:
            self.deep = predictor

    def fast_rows(self, body: bytes, content_type: str, accept: str) -> np.ndarray | None:
        """The rows of a plain ``{"instances": [[numbers…], …]}`` JSON body as a float64 array, else None.

        None sends the request down the general path (every shape, every check, every message); this one
        takes only what needs no checking beyond the array's shape and dtype.
        """
        if not self.fast or (accept and accept not in FAST_ACCEPT):
            return None
        if content_type in NPY_FAST and not self.fast_mixed:  # a float array (batch transform): no parsing
            return self._npy_rows(body)
        if content_type and not content_type.startswith("application/json"):
            return None
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(obj) is not dict or len(obj) != 1:
            return None
        rows = obj.get("instances", obj.get("inputs"))
        if type(rows) is not list or not rows or type(rows[0]) is not list:
            return None
        if self.fast_mixed:
            return self._mixed_rows(rows)
        try:
            arr = np.array(rows)
        except ValueError:  # ragged
            return None
        if arr.ndim != 2 or arr.shape[1] != len(self._names) or arr.dtype.kind not in "fi":
            return None
        if arr.dtype.kind == "f" and np.isinf(arr).any():
            return None
        return arr.astype(np.float64, copy=False)

    def _npy_rows(self, body: bytes) -> np.ndarray | None:
        """A 2-D float ``.npy`` body of the signature's width, all finite, else None (the checked path)."""
        import io

        try:
            arr = np.load(io.BytesIO(body), allow_pickle=False)
        except Exception:  # numpy raises many kinds for a bad header
            return None
        if arr.ndim != 2 or not len(arr) or arr.shape[1] != len(self._names) or arr.dtype.kind != "f" or \
                not np.isfinite(arr).all():
            return None
        return arr.astype(np.float64, copy=False)

    def _mixed_rows(self, rows: list[Any]) -> np.ndarray | None:
        """Rows of strings, numbers and nulls matching the signature's columns as an object array, else None
        (the checked path then explains what is wrong)."""
        strings = self._strings
        width = len(strings)
        for row in rows:
            if type(row) is not list or len(row) != width:
                return None
            for v, text in zip(row, strings):
                if v is None:
                    continue
                kind = type(v)
                if text:
                    if kind is not str:
                        return None
                elif not (kind is int or (kind is float and np.isfinite(v))):  # bools and strings too
                    return None
        arr = np.empty((len(rows), width), dtype=object)
        arr[:] = rows
        return arr

    def predict_rows(self, x: np.ndarray) -> list[dict[str, Any]]:
        """Predictions for a float64 array of rows (the fast path and the batcher call this)."""
        return self.estimator.predict_rows(x)  # type: ignore[no-any-return]

    @staticmethod
    def render(predictions: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"predictions": predictions})

    def warm_up(self) -> None:
        """One prediction on a zero row so the first caller does not pay for lazy initialisation."""
        inputs = self.signature.get("inputs") or []
        deep_body = _deep_warm_up_body(self.signature) if self.deep is not None else b""
        if not deep_body and (self.custom is not None or not inputs or self.signature.get("input_kind") != "tabular"):
            return
        try:
            import time

            # A zero per number, an empty string per string column (a built-in over a mixed table).
            row = [0.0 if i.get("dtype", "float64") in NUMERIC else "" for i in inputs]
            body = deep_body or orjson.dumps({"instances": [row]})
            for _ in range(3):
                t = time.perf_counter()
                status, _, _ = self.invoke(body, "application/json", "application/json")
                self.warm_seconds = time.perf_counter() - t if status == 200 else None
        except Exception:  # warm-up is best effort
            log.debug("warm-up failed", exc_info=True)

    # -- per request ---------------------------------------------------------------------------

    @property
    def container_answers(self) -> bool:
        """An XGBoost model (Slipway's built-in ``xgboost`` algorithm, or an XGBoost booster without handlers): on
        Slipway's SageMaker paths it answers as SageMaker's XGBoost container."""
        return self.estimator is not None and (self.manifest.framework == "xgboost"
                                               or (self.manifest.lineage or {}).get("algorithm") == "xgboost")

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        status, out, out_type, _ = self.invoke_with(body, content_type, accept)
        return status, out, out_type

    def invoke_with(self, body: bytes, content_type: str, accept: str, headers: dict[str, str] | None = None,
                    ) -> tuple[int, bytes, str, str | None]:
        """(status, body, content type, custom attributes to send back or None).

        ``headers`` are the request's: SageMaker handlers see them through their ``context`` (custom
        attributes in particular); with :data:`SAGEMAKER_HEADER` a built-in XGBoost model answers as the
        SageMaker XGBoost container.
        """
        headers = headers or {}
        model = self.deep or self.custom or self.estimator
        ct = (content_type or "").split(";", 1)[0].strip().lower()
        if ct in ("", "*/*", "application/x-www-form-urlencoded") and model is not self.estimator:
            content_type = "application/json"  # curl -d: still JSON
        context = None
        try:
            if SAGEMAKER_HEADER in headers and self.container_answers:
                out, out_type = self.estimator.invoke(body, content_type or "text/csv", "application/json")
                return (200, *xgboost_container_answer(out, accept), None)
            if isinstance(model, HandlerPredictor):
                context = Context({"Content-Type": content_type, "Accept": accept, **{
                    k: v for k, v in headers.items() if k.lower() == CUSTOM_ATTRIBUTES.lower()}}, str(self.folder))
                out, out_type = model.invoke(body, content_type, accept or "application/json", context=context)
                return 200, out, out_type, context.custom_attributes
            out, out_type = model.invoke(body, content_type, accept or "application/json")
            return 200, out, out_type, None
        except SlipwayError as exc:
            if exc.status_code >= 500:
                log.warning("%s", exc.message)
            return exc.status_code, error_body(exc.code, exc.message, exc.details), "application/json", None
        except Exception as exc:  # the model failed: report, stay up
            log.warning("prediction failed: %s", "".join(traceback.format_exception(exc)).strip())
            return 500, error_body("model_error", f"The model failed to predict: {type(exc).__name__}: {exc}",
                                   {"stage": "predict"}), "application/json", None


XGBOOST_ACCEPT = ("text/csv", "application/json", "application/jsonlines")


def _score(p: Any) -> Any:
    """One Slipway prediction as the XGBoost container's score: P(positive class) for two classes (the
    ``binary:logistic`` output), the class probabilities for more (``multi:softprob``), the value for
    regression."""
    if not isinstance(p, dict):
        return p
    probs = p.get("probabilities")
    if isinstance(probs, dict) and probs:
        values = list(probs.values())
        return values[1] if len(values) == 2 else values
    if "value" in p:
        return p["value"]
    label = p.get("label")
    try:
        return float(label)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return label


def xgboost_container_answer(slipway_body: bytes, accept: str) -> tuple[bytes, str]:
    """Slipway's ``{"predictions": [...]}`` as SageMaker's XGBoost container answers: ``text/csv`` (its
    default) one score per line (a row's probabilities comma-separated), ``application/json``
    ``{"predictions": [{"score": …}]}``, ``application/jsonlines`` one ``{"score": …}`` per line."""
    media = (accept or "").split(",", 1)[0].split(";", 1)[0].strip().lower()
    if media in ("", "*/*"):
        media = "text/csv"
    if media not in XGBOOST_ACCEPT:
        raise NotAcceptable(f"Accept {accept!r} is not one the SageMaker XGBoost container answers. Expected one "
                            f"of {', '.join(XGBOOST_ACCEPT)}.", {"field": "Accept", "value": accept,
                                                               "expected": list(XGBOOST_ACCEPT)})
    scores = [_score(p) for p in orjson.loads(slipway_body)["predictions"]]
    if media == "application/json":
        return orjson.dumps({"predictions": [{"score": s} for s in scores]}), media
    if media == "application/jsonlines":
        return b"".join(orjson.dumps({"score": s}) + b"\n" for s in scores), media
    lines = (",".join(repr(float(v)) if isinstance(v, (int, float)) else str(v) for v in s)
             if isinstance(s, list) else (repr(float(s)) if isinstance(s, (int, float)) else str(s)) for s in scores)
    return "\n".join(lines).encode(), media


def _deep_warm_up_body(sig: dict[str, Any]) -> bytes:
    """A zero image or a short text for built-in networks; nothing for shapes only the model knows."""
    if sig.get("input_kind") == "image" and sig.get("input_shape"):
        return orjson.dumps({"instances": [np.zeros(sig["input_shape"]).tolist()]})
    if sig.get("input_kind") == "text":
        return orjson.dumps({"instances": ["warm up"]})
    return b""
