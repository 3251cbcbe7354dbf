"""The predictor shared by the tabular flavors (scikit-learn, XGBoost, LightGBM, ONNX): rows in, answers out.

The model is anything with ``predict`` (and ``predict_proba`` for classifiers) over a DataFrame or an array:
an estimator, a booster behind an adapter, or a verified ONNX export (``onnx``), which then serves instead
of the original. Requests are decoded against the signature by the one codec (slipway.serving.payloads);
answers are Slipway's label/confidence shape for known problem types, the model's bare output otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from slipway.artifacts.labels import estimator_rows
from slipway.artifacts.manifest import Manifest
from slipway.errors import InvalidArgument
from slipway.serving.payloads import decode, encode, encode_array, media_type, missing_values, wants_csv

__all__ = ["EstimatorPredictor", "load_onnx_export"]

log = logging.getLogger("slipway.serving")


def load_onnx_export(folder: Any, manifest: Manifest) -> Any:
    """The verified ONNX export as an OnnxModel, or None (none verified, or ONNX Runtime missing here)."""
    info = manifest.onnx or {}
    if not info.get("verified") or not (folder / info.get("file", "")).is_file():
        return None
    try:
        from slipway.artifacts.onnx_runtime import OnnxModel, column_feeds

        columns = column_feeds(manifest.signature.inputs) if info.get("feeds") == "columns" else None
        return OnnxModel(folder / info["file"], info.get("dtype", "float32"), manifest.classifier, columns,
                         text=info.get("feeds") == "text")
    except Exception:  # e.g. onnxruntime not installed here: the original serves
        log.warning("The ONNX export could not be loaded; serving the original model", exc_info=True)
        return None


class EstimatorPredictor:
    """``predict(data)`` for decoded rows, ``predict_rows(x)`` for a float64 array, ``invoke`` for a raw body."""

    def __init__(self, framework: str, model: Any, manifest: Manifest, *, onnx: Any = None,
                 runtime: str | None = None) -> None:
        self.framework = framework
        self.model = model
        self.onnx = onnx
        self.manifest = manifest
        self.signature: dict[str, Any] = manifest.signature.to_dict()
        self.problem = manifest.problem_type
        self.labels: list[str] = list(manifest.signature.labels or [])
        self.names = manifest.signature.names
        self.runtime = "onnxruntime" if onnx is not None else (runtime or framework)
        # Estimators fitted on bare arrays warn when given a DataFrame: hand them arrays.
        first = (getattr(model, "steps", None) or [[None, None]])[0][1]
        self.wants_frame = hasattr(model, "feature_names_in_") or hasattr(first, "feature_names_in_")

    def predict_rows(self, x: np.ndarray) -> Any:
        """Predictions for a float64 array of rows (the fast path and the batcher call this)."""
        if self.onnx is not None:
            return self._answer(self.onnx, x)
        if self.wants_frame and self.names:
            import pandas as pd

            return self._answer(self.model, pd.DataFrame(x, columns=self.names, copy=False))
        return self._answer(self.model, x)

    def predict(self, data: Any) -> Any:
        """Predictions for decoded rows: a DataFrame (tabular), a list of str (text) or an ndarray."""
        if isinstance(data, list) and data and not isinstance(data[0], str):
            data = decode(_json(data), "application/json", self.signature)
        if self.onnx is not None and getattr(self.onnx, "text", False) and isinstance(data, list):
            return self._answer(self.onnx, data)
        if self.onnx is not None and hasattr(data, "to_numpy"):
            if getattr(self.onnx, "columns", None) is not None:  # one ONNX input per column (string columns)
                return self._answer(self.onnx, data)
            return self._answer(self.onnx, data.to_numpy(dtype=np.float64))
        x = data if self.wants_frame or not hasattr(data, "to_numpy") else data.to_numpy()
        return self._answer(self.model, x)

    def _answer(self, model: Any, x: Any) -> Any:
        if self.problem is None:  # unknown: the model's own output, as its framework's container answers
            return np.asarray(model.predict(x))
        return estimator_rows(model, x, self.problem, self.labels)

    def invoke(self, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> tuple[bytes, str]:
        data = decode(body, content_type, self.signature)
        try:
            prediction = self.predict(data)
        except ValueError:
            # Most often a missing value the model cannot take: the caller's to fix, so a 400 naming it.
            csv_rows = media_type(content_type) == "text/csv"
            bad = missing_values(data, self.names or None, *(("CSV row", 1) if csv_rows else ("Row", 0)))
            if bad is not None:
                raise bad from None
            raise
        if isinstance(prediction, list):
            return encode(prediction, wants_csv(accept))
        return encode_array(prediction, accept)


def _json(rows: Any) -> bytes:
    import orjson

    try:
        return orjson.dumps({"instances": rows}, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError as exc:
        raise InvalidArgument(f"The instances are not JSON values ({exc}).", {"field": "instances"}) from None


def final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def describe_estimator(estimator: Any) -> dict[str, Any]:
    """Problem type, labels and signature read off a fitted estimator (or Pipeline).

    Labels come from ``classes_``; columns from ``feature_names_in_`` or, failing that,
    ``n_features_in_`` numbered features ``f0 … fN-1``.
    """
    from sklearn.base import is_classifier, is_regressor

    final = final_step(estimator)
    if not hasattr(estimator, "predict") and not hasattr(estimator, "transform"):
        raise InvalidArgument(
            f"The object is a {type(estimator).__name__}, not a fitted scikit-learn estimator "
            "(it has neither predict nor transform).",
            {"field": "model", "value": type(estimator).__name__},
        )
    labels: list[str] | None = None
    if is_classifier(estimator) or hasattr(final, "classes_"):
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            classes = getattr(final, "classes_", None)
        if classes is None:
            raise InvalidArgument("The classifier is not fitted (it has no classes_). Fit it before importing.")
        labels = [str(c) for c in classes]
        problem = "binary_classification" if len(labels) == 2 else "multiclass_classification"
    elif is_regressor(estimator):
        problem = "regression"
    elif hasattr(final, "cluster_centers_") or hasattr(final, "labels_"):
        problem = "clustering"
    elif hasattr(estimator, "transform"):
        problem = "transform"
    else:
        problem = "regression"
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = getattr(first_step(estimator), "feature_names_in_", None)
    if names is not None:
        inputs = [{"name": str(n), "dtype": "float64"} for n in names]
        explicit = True
    else:
        n = getattr(estimator, "n_features_in_", None) or getattr(first_step(estimator), "n_features_in_", None)
        if n is None:
            raise InvalidArgument(
                "Cannot tell how many features the estimator expects (no feature_names_in_ or n_features_in_). "
                "Fit it before importing."
            )
        inputs = [{"name": f"f{i}", "dtype": "float64"} for i in range(int(n))]
        explicit = False
    return {"problem_type": problem, "labels": labels, "inputs": inputs, "named_features": explicit}


def first_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[0][1] if steps else estimator
