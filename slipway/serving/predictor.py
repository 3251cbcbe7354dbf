"""Loads one model artifact and answers invocations, through SageMaker handlers when code/inference.py has them.

``Predictor.invoke`` never raises: every outcome is (status, body, content type), so a bad request or
a failing handler cannot take the replica down.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import orjson

from slipway.frameworks.artifact import CLASSIFIERS, read_manifest
from slipway.serving.payloads import NUMERIC, BadInput, decode, encode, jsonable, missing_values, wants_csv

__all__ = ["Predictor", "error_body"]

log = logging.getLogger("slipway.serving")
FAST_ACCEPT = ("application/json", "*/*")
HANDLERS = ("model_fn", "input_fn", "predict_fn", "output_fn", "transform_fn")
DEEP_FRAMEWORKS = ("pytorch", "keras")  # loaded by slipway.frameworks.deep_serving.load_predictor


def error_body(code: str, message: str, details: dict[str, Any] | None = None, request_id: str | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or {},
                                   "request_id": request_id}})


class Predictor:
    """A loaded model: ``load`` once at start, ``invoke`` per request (thread-safe for sklearn models)."""

    def __init__(self, folder: Path, onnx: bool = True) -> None:
        self.folder = Path(folder)
        self.use_onnx = onnx
        # An OnnxModel (an OnnxNet for a built-in network) when a verified export serves instead of the original
        # and the framework is not loaded: the replica then forks a worker per core.
        self.onnx: Any = None
        self.runtime = "none"
        self.fast = False  # rows of a plain numeric JSON body can go straight to the model as an array
        self.manifest = read_manifest(self.folder)
        self.signature: dict[str, Any] = self.manifest["signature"]
        self.problem = self.manifest.get("problem_type")
        self.handlers: dict[str, Any] = {}
        self.model: Any = None
        self._wants_frame = True
        self.warm_seconds: float | None = None  # time of the warm-up prediction, when there was one
        self.deep: Any = None  # a slipway.frameworks.deep_serving predictor for pytorch and keras artifacts

    def load(self) -> None:
        os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on PyTorch, also for user code importing it
        if self.manifest.get("framework") in DEEP_FRAMEWORKS:
            from slipway.frameworks.deep_serving import load_predictor

            self.deep = load_predictor(self.folder, onnx=self.use_onnx)
            self.runtime = self.deep.runtime
            self.onnx = getattr(self.deep, "onnx", None)
            return
        code = self.folder / "code" / "inference.py"
        if code.is_file():
            module = _import_user_code(code)
            self.handlers = {h: getattr(module, h) for h in HANDLERS if callable(getattr(module, h, None))}
        if "model_fn" in self.handlers:
            self.model = self.handlers["model_fn"](str(self.folder))
        elif self.manifest.get("model_file"):
            import joblib

            self.model = joblib.load(self.folder / self.manifest["model_file"])
        # Estimators fitted on bare arrays warn when given a DataFrame: hand them arrays.
        self._wants_frame = hasattr(self.model, "feature_names_in_") or hasattr(
            (getattr(self.model, "steps", None) or [[None, None]])[0][1], "feature_names_in_")
        self._load_fast_path()

    def _load_fast_path(self) -> None:
        """The verified ONNX export, when there is one and it is wanted; rows as arrays for numeric signatures."""
        from slipway.frameworks.onnx import OnnxModel, runtime_of

        info = self.manifest.get("onnx") or {}
        self.runtime = "custom code" if self.handlers else runtime_of({**self.manifest, "onnx": {}})[0]
        if self.use_onnx and not self.handlers and info.get("verified") and (self.folder / info["file"]).is_file():
            try:
                self.onnx = OnnxModel(self.folder / info["file"], info.get("dtype", "float32"),
                                      self.problem in CLASSIFIERS)
                self.runtime = "onnxruntime"
            except Exception:  # e.g. onnxruntime not installed here: the original serves
                log.warning("The ONNX export could not be loaded; serving the original model", exc_info=True)
        inputs = self.signature.get("inputs") or []
        self._names = [i["name"] for i in inputs]
        self.fast = (not self.handlers and self.model is not None and self.signature.get("input_kind") == "tabular"
                     and bool(inputs) and all(i.get("dtype", "float64") in NUMERIC for i in inputs))

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
        try:
            arr = np.array(rows)
        except ValueError:  # ragged
            return None
        if arr.ndim != 2 or arr.shape[1] != len(self._names) or arr.dtype.kind not in "fi":
            return None
        if arr.dtype.kind == "f" and np.isinf(arr).any():
            return None
        return arr.astype(np.float64, copy=False)

    def predict_rows(self, x: np.ndarray) -> list[dict[str, Any]]:
        """Predictions for a float64 array of rows (the fast path and the batcher call this)."""
        if self.onnx is not None:
            return self._predict(self.onnx, x)
        if self._wants_frame:
            import pandas as pd

            return self._predict(self.model, pd.DataFrame(x, columns=self._names, copy=False))
        return self._predict(self.model, x)

    @staticmethod
    def render(predictions: list[dict[str, Any]]) -> bytes:
        return orjson.dumps({"predictions": predictions})

    def warm_up(self) -> None:
        """One prediction on a zero row so the first caller does not pay for lazy initialisation."""
        inputs = self.signature.get("inputs") or []
        deep_body = _deep_warm_up_body(self.signature) if self.deep is not None else b""
        if not deep_body and (self.handlers or not inputs or self.signature.get("input_kind") != "tabular"):
            return
        try:
            import time

            body = deep_body or orjson.dumps({"instances": [[0.0] * len(inputs)]})
            for _ in range(3):
                t = time.perf_counter()
                status, _, _ = self.invoke(body, "application/json", "application/json")
                self.warm_seconds = time.perf_counter() - t if status == 200 else None
        except Exception:  # warm-up is best effort
            log.debug("warm-up failed", exc_info=True)

    # -- per request ---------------------------------------------------------------------------

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        if self.deep is not None:
            return _invoke_deep(self.deep, body, content_type, accept)
        stage = "input_fn"
        data: Any = None
        try:
            if "transform_fn" in self.handlers:
                stage = "transform_fn"
                out = self.handlers["transform_fn"](self.model, _user_body(body, content_type), content_type, accept)
                return (200, *_normalize(out, accept))
            data = (self.handlers["input_fn"](_user_body(body, content_type), content_type)
                    if "input_fn" in self.handlers else decode(body, content_type, self.signature))
            stage = "predict_fn"
            prediction = (self.handlers["predict_fn"](data, self.model) if "predict_fn" in self.handlers
                          else self.predict(data))
            stage = "output_fn"
            if "output_fn" in self.handlers:
                return (200, *_normalize(self.handlers["output_fn"](prediction, accept), accept))
            if isinstance(prediction, list) and prediction and isinstance(prediction[0], dict):
                return (200, *encode(prediction, wants_csv(accept)))
            wants_csv(accept)
            return 200, orjson.dumps({"predictions": jsonable(prediction)}, option=orjson.OPT_SERIALIZE_NUMPY), \
                "application/json"
        except BadInput as exc:
            return exc.status, error_body(exc.code, exc.message, exc.details), "application/json"
        except Exception as exc:  # the user's handlers or the model failed: report, stay up
            if stage == "predict_fn" and "predict_fn" not in self.handlers and isinstance(exc, ValueError):
                # Most often a missing value the model cannot take: the caller's to fix, so a 400 naming it.
                csv_rows = (content_type or "").split(";", 1)[0].strip().lower() == "text/csv"
                bad = missing_values(data, self._names or None, *(("CSV row", 1) if csv_rows else ("Row", 0)))
                if bad is not None:
                    return bad.status, error_body(bad.code, bad.message, bad.details), "application/json"
            if stage == "input_fn" and isinstance(exc, (ValueError, TypeError, KeyError, UnicodeDecodeError)):
                return 400, error_body("invalid_argument", f"input_fn rejected the request: {type(exc).__name__}: "
                                       f"{exc}", {"stage": stage}), "application/json"
            log.warning("%s failed: %s", stage, "".join(traceback.format_exception(exc)).strip())
            message = f"{stage} failed: {type(exc).__name__}: {exc}" if self.handlers else \
                f"The model failed to predict: {type(exc).__name__}: {exc}"
            return 500, error_body("model_error", message, {"stage": stage}), "application/json"

    def predict(self, data: Any) -> list[dict[str, Any]]:
        model = self.model
        if model is None:
            raise BadInput("This model has no predict_fn and no model file to predict with.", status=500,
                           code="model_error")
        if self.onnx is not None and hasattr(data, "to_numpy"):
            return self._predict(self.onnx, data.to_numpy(dtype=np.float64))
        x = data if self._wants_frame or not hasattr(data, "to_numpy") else data.to_numpy()
        return self._predict(model, x)

    def _predict(self, model: Any, x: Any) -> list[dict[str, Any]]:
        if self.problem in CLASSIFIERS:
            labels = self.signature.get("labels") or [str(c) for c in getattr(model, "classes_", [])]
            if hasattr(model, "predict_proba"):
                probs = _no_nan(np.asarray(model.predict_proba(x), dtype=np.float64))
                best = probs.argmax(axis=1)
                return [
                    {"label": labels[b], "confidence": float(row[b]),
                     "probabilities": {lab: float(p) for lab, p in zip(labels, row)}}
                    for row, b in zip(probs.tolist(), best.tolist())
                ]
            return [{"label": str(v)} for v in np.asarray(model.predict(x)).tolist()]
        if self.problem == "clustering":
            return [{"cluster": int(v)} for v in np.asarray(model.predict(x)).tolist()]
        if self.problem == "transform":
            return [{"values": row} for row in np.asarray(model.transform(x)).tolist()]
        values = _no_nan(np.asarray(model.predict(x)))
        return [{"value": v} for v in values.tolist()]


def _no_nan(out: np.ndarray) -> np.ndarray:
    """An ONNX graph does not refuse a missing value the way the estimator does: it answers NaN. Refuse it alike."""
    if out.dtype.kind == "f" and np.isnan(out).any():
        raise ValueError("Input contains NaN: the model answered NaN")
    return out


def _deep_warm_up_body(sig: dict[str, Any]) -> bytes:
    """A zero image or a short text for built-in networks; nothing for shapes only the model knows."""
    if sig.get("input_kind") == "image" and sig.get("input_shape"):
        return orjson.dumps({"instances": [np.zeros(sig["input_shape"]).tolist()]})
    if sig.get("input_kind") == "text":
        return orjson.dumps({"instances": ["warm up"]})
    return b""


def _invoke_deep(predictor: Any, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
    """A PyTorch or Keras predictor's answer; bad input is a 400 naming the expected shape, never a crash."""
    from slipway.errors import SlipwayError

    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct in ("", "*/*", "application/x-www-form-urlencoded"):  # curl -d: still JSON
        content_type = "application/json"
    try:
        out, out_type = predictor.invoke(body, content_type, accept or "application/json")
        return 200, out, out_type
    except SlipwayError as exc:
        return exc.status_code, error_body(exc.code, exc.message, exc.details), "application/json"
    except Exception as exc:  # the model or the user's handlers failed: report, stay up
        log.warning("deep-learning prediction failed: %s", "".join(traceback.format_exception(exc)).strip())
        return 500, error_body("model_error", f"The model failed to predict: {type(exc).__name__}: {exc}",
                               {"stage": "predict"}), "application/json"


def _import_user_code(path: Path) -> ModuleType:
    code_dir = str(path.parent)
    if code_dir not in sys.path:
        sys.path.insert(0, code_dir)
    spec = importlib.util.spec_from_file_location("inference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["inference"] = module
    spec.loader.exec_module(module)
    return module


def _user_body(body: bytes, content_type: str) -> bytes | str:
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    if ct.startswith("text/") or ct in ("application/json", "application/jsonlines"):
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return body
    return body


def _concrete(accept: str, fallback: str) -> str:
    first = (accept or "").split(",", 1)[0].split(";", 1)[0].strip()
    return first if first and "*" not in first else fallback


def _normalize(out: Any, accept: str) -> tuple[bytes, str]:
    """What output_fn / transform_fn may return: dict or list, str, bytes, or (body, content_type)."""
    if isinstance(out, tuple) and len(out) == 2:
        body, ct = out
        data, _ = _normalize(body, accept)
        return data, str(ct)
    if isinstance(out, (bytes, bytearray, memoryview)):
        return bytes(out), _concrete(accept, "application/octet-stream")
    if isinstance(out, str):
        return out.encode("utf-8"), _concrete(accept, "text/plain; charset=utf-8")
    return orjson.dumps(jsonable(out), option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
