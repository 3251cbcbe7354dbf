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
from slipway.artifacts.handlers import HandlerPredictor, load_handlers
from slipway.artifacts.manifest import NUMERIC, Manifest
from slipway.errors import SlipwayError

__all__ = ["Predictor", "error_body"]

log = logging.getLogger("slipway.serving")
FAST_ACCEPT = ("application/json", "*/*")
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
        if not self.fast or (content_type and not content_type.startswith("application/json")) or \
                (accept and accept not in FAST_ACCEPT):
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

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        model = self.deep or self.custom or self.estimator
        ct = (content_type or "").split(";", 1)[0].strip().lower()
        if ct in ("", "*/*", "application/x-www-form-urlencoded") and model is not self.estimator:
            content_type = "application/json"  # curl -d: still JSON
        try:
            out, out_type = model.invoke(body, content_type, accept or "application/json")
            return 200, out, out_type
        except SlipwayError as exc:
            if exc.status_code >= 500:
                log.warning("%s", exc.message)
            return exc.status_code, error_body(exc.code, exc.message, exc.details), "application/json"
        except Exception as exc:  # the model failed: report, stay up
            log.warning("prediction failed: %s", "".join(traceback.format_exception(exc)).strip())
            return 500, error_body("model_error", f"The model failed to predict: {type(exc).__name__}: {exc}",
                                   {"stage": "predict"}), "application/json"


def _deep_warm_up_body(sig: dict[str, Any]) -> bytes:
    """A zero image or a short text for built-in networks; nothing for shapes only the model knows."""
    if sig.get("input_kind") == "image" and sig.get("input_shape"):
        return orjson.dumps({"instances": [np.zeros(sig["input_shape"]).tolist()]})
    if sig.get("input_kind") == "text":
        return orjson.dumps({"instances": ["warm up"]})
    return b""
