"""The XGBoost flavor: a Booster saved as ``xgboost-model`` (native JSON/UBJ, or pickled as SageMaker's
script examples do) or a scikit-learn-style XGBClassifier/XGBRegressor, served like SageMaker's XGBoost
container: CSV, libsvm, JSON and .npy in; ``Booster.predict`` on a DMatrix; scores out.

A Booster sits behind ``BoosterModel`` so the estimator predictor, the ONNX export (onnxmltools) and the
label mapping see one ``predict`` / ``predict_proba`` interface.
"""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors import require_extra
from slipway.artifacts.flavors.boosters import check_width, export_booster, load_booster, save_booster
from slipway.artifacts.flavors.estimator import EstimatorPredictor
from slipway.artifacts.handlers import Defaults
from slipway.artifacts.manifest import Manifest, Signature
from slipway.errors import InvalidArgument

__all__ = ["EXTRA", "NAME", "BoosterModel", "defaults", "describe", "export_onnx", "load", "load_model", "save"]

NAME = "xgboost"
EXTRA = "xgboost"
MODEL_FILE = "xgboost-model"  # SageMaker's name for it


class BoosterModel:
    """A Booster answering like an estimator: ``predict`` (labels or values) and ``predict_proba``."""

    tree_based = True

    def __init__(self, booster: Any) -> None:
        self.booster = booster
        config = json.loads(booster.save_config())
        learner = config.get("learner", {})
        self.objective: str = learner.get("objective", {}).get("name", "reg:squarederror")
        self.num_class = int(learner.get("learner_model_param", {}).get("num_class", "0") or 0)
        self.n_features_in_ = int(booster.num_features())

    @property
    def classifier(self) -> bool:
        return self.objective.startswith(("binary:", "multi:"))

    def _matrix(self, x: Any) -> Any:
        import xgboost as xgb

        if isinstance(x, xgb.DMatrix):
            return x
        arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x, dtype=np.float32)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        check_width(arr.shape[1], self.n_features_in_)
        return xgb.DMatrix(arr)

    def raw(self, x: Any) -> np.ndarray:
        return np.asarray(self.booster.predict(self._matrix(x), validate_features=False))

    def predict_proba(self, x: Any) -> np.ndarray:
        out = self.raw(x)
        if self.objective == "multi:softmax":  # class ids only: one-hot, the best we can say
            return np.eye(self.num_class)[out.astype(int)]  # type: ignore[no-any-return]
        if out.ndim == 1:  # binary:logistic gives P(class 1)
            return np.stack([1 - out, out], axis=1)
        return out

    def predict(self, x: Any) -> np.ndarray:
        out = self.raw(x)
        if self.objective.startswith("binary:"):
            return (out > (0.0 if self.objective == "binary:logitraw" else 0.5)).astype(np.int64)
        if self.objective == "multi:softprob":
            return out.argmax(axis=1)  # type: ignore[no-any-return]
        return out


def load_model(path: Path) -> Any:
    """A Booster (native format or pickled) or a pickled XGBModel from ``path``."""
    require_extra(NAME, "An XGBoost model")
    import xgboost as xgb

    data = path.read_bytes()
    booster = xgb.Booster()
    with warnings.catch_warnings():  # xgboost warns (and logs) while it tries a buffer that is not its own
        warnings.simplefilter("ignore")
        try:
            booster.load_model(bytearray(data))  # from bytes, xgboost tells JSON, UBJSON and binary apart
            return booster
        except xgb.core.XGBoostError:
            pass
        try:
            model = pickle.loads(data)  # noqa: S301 - the model is the user's own, as in SageMaker's container
        except Exception as exc:  # not a pickle either
            raise InvalidArgument(
                f"Cannot load {path.name} as an XGBoost model ({type(exc).__name__}: {exc}). Expected a Booster "
                "saved with save_model or pickle, or a pickled XGBClassifier/XGBRegressor.",
                {"field": "model", "value": path.name}) from None
    return model


def as_estimator(model: Any) -> Any:
    """What the estimator predictor runs: an XGBModel as it is, a Booster behind BoosterModel."""
    import xgboost as xgb

    return BoosterModel(model) if isinstance(model, xgb.Booster) else model


def describe(model: Any) -> tuple[str | None, Signature]:
    """Problem type and signature read off a Booster or an XGBModel (None when the objective says nothing)."""
    est = as_estimator(model)
    if isinstance(est, BoosterModel):
        names = est.booster.feature_names or [f"f{i}" for i in range(est.n_features_in_)]
        if est.objective.startswith("binary:"):
            return "binary_classification", Signature.tabular(names, ["0", "1"])
        if est.objective.startswith("multi:"):
            return "multiclass_classification", Signature.tabular(names, [str(i) for i in range(est.num_class)])
        if est.objective.startswith(("reg:", "count:", "survival:")):
            return "regression", Signature.tabular(names)
        return None, Signature.tabular(names)
    from slipway.artifacts.flavors.estimator import describe_estimator

    info = describe_estimator(model)
    return info["problem_type"], Signature("tabular", info["inputs"], None, info["labels"])


def save(model: Any, folder: Path | str, *, metrics: dict[str, float] | None = None,
         lineage: dict[str, Any] | None = None, feature_names: list[str] | None = None,
         labels: list[str] | None = None, samples: Any = None) -> Manifest:
    """A Booster as ``xgboost-model`` (native JSON format) with its manifest; labels name the classes."""
    require_extra(NAME, "An XGBoost model")
    import xgboost as xgb

    booster = model.get_booster() if isinstance(model, xgb.XGBModel) else model

    def write(path: Path) -> None:  # the .json suffix picks the JSON format; SageMaker's name has none
        booster.save_model(str(path.with_suffix(".json")))
        path.with_suffix(".json").replace(path)

    return save_booster(NAME, MODEL_FILE, folder, write, booster, describe, metrics=metrics, lineage=lineage,
                        feature_names=feature_names, labels=labels, samples=samples)


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> EstimatorPredictor:
    return load_booster(NAME, folder, manifest, MODEL_FILE, load_model, as_estimator, onnx=onnx)


def export_onnx(folder: Path, manifest: Manifest) -> dict[str, Any]:
    """onnxmltools converts Boosters with tree objectives."""
    return export_booster(folder, manifest, MODEL_FILE, load_model, as_estimator, _convert, EXTRA)


def _convert(est: Any, n_features: int, dtype: Any, classifier: bool) -> bytes:
    from onnxmltools import convert_xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    if dtype != np.float32:
        raise ValueError("XGBoost converts to float32 inputs only")
    booster = est.booster if isinstance(est, BoosterModel) else est.get_booster()
    if classifier and isinstance(est, BoosterModel) and est.objective not in ("binary:logistic", "multi:softprob"):
        raise ValueError(f"objective {est.objective} has no probabilities to export")
    onx = convert_xgboost(booster if isinstance(est, BoosterModel) else est,
                          initial_types=[("input", FloatTensorType([None, n_features]))], target_opset=15)
    return onx.SerializeToString()  # type: ignore[no-any-return]


# -- SageMaker's XGBoost container defaults --------------------------------------------------------

CONTENT_TYPES = ("text/csv", "text/libsvm", "text/x-libsvm", "application/json", "application/x-npy")


def decode_matrix(body: Any, content_type: str) -> Any:
    """A request body -> DMatrix: CSV rows (no header, no label), libsvm lines, JSON rows or .npy."""
    import xgboost as xgb

    from slipway.errors import UnsupportedMediaType
    from slipway.serving.payloads import decode_instances, media_type

    ct = media_type(content_type) or "text/csv"
    data = body.encode() if isinstance(body, str) else bytes(body)
    if ct in ("text/libsvm", "text/x-libsvm"):
        return _libsvm(data.decode("utf-8", errors="replace"))
    if ct not in CONTENT_TYPES and ct not in ("application/npy", "*/*"):
        raise UnsupportedMediaType(
            f"Content-Type {ct!r} is not supported by the XGBoost container. Expected one of "
            f"{', '.join(CONTENT_TYPES)}.",
            {"field": "Content-Type", "value": ct, "expected": list(CONTENT_TYPES)})
    rows = decode_instances(data, ct, finite=False)  # XGBoost takes NaN as a missing value
    try:
        arr = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidArgument("The rows are not numbers. Expected rows of numbers (features only, no label).",
                              {"field": "body"}) from None
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    return xgb.DMatrix(arr)


def _libsvm(text: str) -> Any:
    import xgboost as xgb

    rows: list[dict[int, float]] = []
    for n, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        parts = line.split()
        if parts and ":" not in parts[0]:
            parts = parts[1:]  # a label first, as libsvm files have
        row = {}
        for p in parts:
            try:
                k, v = p.split(":", 1)
                row[int(k)] = float(v)
            except ValueError:
                raise InvalidArgument(f"libsvm line {n + 1} has {p!r}. Expected index:value pairs.",
                                      {"field": "body", "value": p}) from None
        rows.append(row)
    width = max((max(r) + 1 for r in rows if r), default=0)
    arr = np.full((len(rows), width), np.nan, dtype=np.float32)
    for i, r in enumerate(rows):
        for k, v in r.items():
            arr[i, k] = v
    return xgb.DMatrix(arr, missing=np.nan)


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    require_extra(NAME, "An XGBoost model")

    def model_fn(model_dir: str) -> Any:
        return load_model(Path(model_dir) / (manifest.model_file or MODEL_FILE))

    def predict_fn(data: Any, model: Any) -> Any:
        import xgboost as xgb

        if isinstance(model, xgb.Booster):
            check_width(data.num_col(), int(model.num_features()))
            # As the container does: a Booster trained on a DataFrame has feature names a request has not.
            return model.predict(data, validate_features=False)
        x = data.get_data().toarray() if isinstance(data, xgb.DMatrix) else data
        return model.predict_proba(x) if hasattr(model, "predict_proba") else model.predict(x)

    from slipway.serving.payloads import encode_array

    # As the script-mode container's default output_fn: the scores themselves, a bare JSON array, one CSV line each.
    return Defaults(model_fn, decode_matrix, predict_fn, encode_array)
