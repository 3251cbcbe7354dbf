"""The LightGBM flavor: a Booster saved as text (``model.txt``) or a pickled LGBMClassifier/LGBMRegressor.

Served like the XGBoost flavor (CSV, libsvm, JSON and .npy in); a Booster sits behind ``LgbBoosterModel`` so
the estimator predictor, the ONNX export (onnxmltools) and the label mapping see ``predict``/``predict_proba``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors import require_extra
from slipway.artifacts.flavors.boosters import check_width, export_booster, load_booster, save_booster
from slipway.artifacts.flavors.estimator import EstimatorPredictor
from slipway.artifacts.handlers import Defaults
from slipway.artifacts.manifest import Manifest, Signature
from slipway.errors import InvalidArgument

__all__ = ["EXTRA", "NAME", "LgbBoosterModel", "defaults", "describe", "export_onnx", "load", "load_model", "save"]

NAME = "lightgbm"
EXTRA = "lightgbm"
MODEL_FILE = "model.txt"


class LgbBoosterModel:
    """A LightGBM Booster answering like an estimator."""

    tree_based = True

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        params = booster.params or {}
        self.objective = str(params.get("objective") or _objective_from_dump(booster))
        self.num_class = int(params.get("num_class", 1) or 1)
        self.n_features_in_ = int(booster.num_feature())

    def raw(self, x: Any) -> np.ndarray:
        arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        check_width(arr.shape[1], self.n_features_in_, "LightGBM")
        return np.asarray(self.booster.predict(arr))

    def predict_proba(self, x: Any) -> np.ndarray:
        out = self.raw(x)
        return np.stack([1 - out, out], axis=1) if out.ndim == 1 else out

    def predict(self, x: Any) -> np.ndarray:
        out = self.raw(x)
        if self.objective in ("binary", "cross_entropy"):
            return (out > 0.5).astype(np.int64)
        if self.objective.startswith("multiclass"):
            return out.argmax(axis=1)  # type: ignore[no-any-return]
        return out


def _objective_from_dump(booster: Any) -> str:
    first = booster.model_to_string().split("\n")
    line = next((ln for ln in first if ln.startswith("objective=")), "objective=regression")
    return line.split("=", 1)[1].split()[0]


def load_model(path: Path) -> Any:
    require_extra(NAME, "A LightGBM model")
    import lightgbm as lgb

    try:
        return lgb.Booster(model_file=str(path))
    except lgb.basic.LightGBMError:
        pass
    try:
        import joblib

        return joblib.load(path)
    except Exception as exc:  # a pickle can fail in any way
        raise InvalidArgument(
            f"Cannot load {path.name} as a LightGBM model ({type(exc).__name__}: {exc}). Expected a Booster saved "
            "with save_model, or a pickled LGBMClassifier/LGBMRegressor.", {"field": "model", "value": path.name},
        ) from None


def as_estimator(model: Any) -> Any:
    import lightgbm as lgb

    return LgbBoosterModel(model) if isinstance(model, lgb.Booster) else model


def describe(model: Any) -> tuple[str | None, Signature]:
    est = as_estimator(model)
    if isinstance(est, LgbBoosterModel):
        names = est.booster.feature_name() or [f"f{i}" for i in range(est.n_features_in_)]
        if est.objective in ("binary", "cross_entropy"):
            return "binary_classification", Signature.tabular(names, ["0", "1"])
        if est.objective.startswith("multiclass"):
            return "multiclass_classification", Signature.tabular(names, [str(i) for i in range(est.num_class)])
        if est.objective.startswith(("regression", "huber", "fair", "poisson", "quantile", "mape", "gamma",
                                     "tweedie")):
            return "regression", Signature.tabular(names)
        return None, Signature.tabular(names)
    from slipway.artifacts.flavors.estimator import describe_estimator

    info = describe_estimator(model)
    return info["problem_type"], Signature("tabular", info["inputs"], None, info["labels"])


def save(model: Any, folder: Path | str, *, metrics: dict[str, float] | None = None,
         lineage: dict[str, Any] | None = None, feature_names: list[str] | None = None,
         labels: list[str] | None = None, samples: Any = None) -> Manifest:
    """A Booster (or the booster of an LGBM estimator) as ``model.txt`` with its manifest."""
    require_extra(NAME, "A LightGBM model")
    booster = getattr(model, "booster_", model)
    return save_booster(NAME, MODEL_FILE, folder, lambda path: booster.save_model(str(path)), booster, describe,
                        metrics=metrics, lineage=lineage, feature_names=feature_names, labels=labels, samples=samples)


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> EstimatorPredictor:
    return load_booster(NAME, folder, manifest, MODEL_FILE, load_model, as_estimator, onnx=onnx)


def export_onnx(folder: Path, manifest: Manifest) -> dict[str, Any]:
    return export_booster(folder, manifest, MODEL_FILE, load_model, as_estimator, _convert, EXTRA)


def _convert(est: Any, n_features: int, dtype: Any, classifier: bool) -> bytes:
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    if dtype != np.float32:
        raise ValueError("LightGBM converts to float32 inputs only")
    model = est.booster if isinstance(est, LgbBoosterModel) else est
    onx = convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, n_features]))],
                           target_opset=15, zipmap=False)
    return onx.SerializeToString()  # type: ignore[no-any-return]


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    require_extra(NAME, "A LightGBM model")
    from slipway.serving.payloads import decode_instances, encode_array

    def model_fn(model_dir: str) -> Any:
        return as_estimator(load_model(Path(model_dir) / (manifest.model_file or MODEL_FILE)))

    def input_fn(body: Any, content_type: str) -> Any:
        return np.asarray(decode_instances(body, content_type, finite=False), dtype=np.float64)

    def predict_fn(data: Any, model: Any) -> Any:
        return model.raw(data) if isinstance(model, LgbBoosterModel) else model.predict(data)

    return Defaults(model_fn, input_fn, predict_fn, encode_array)
