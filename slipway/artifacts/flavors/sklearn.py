"""The scikit-learn flavor: save a fitted estimator (model.joblib), read its signature, load, export to ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors.estimator import EstimatorPredictor, load_onnx_export
from slipway.artifacts.handlers import Defaults
from slipway.artifacts.manifest import CLASSIFIERS, Manifest, Signature, now
from slipway.errors import InvalidArgument

__all__ = ["EXTRA", "NAME", "defaults", "describe_estimator", "export_onnx", "load", "load_estimator",
           "save", "save_sklearn_artifact"]

NAME = "sklearn"
EXTRA = None
MODEL_FILE = "model.joblib"


def _final_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def describe_estimator(estimator: Any) -> dict[str, Any]:
    """Problem type, labels and signature read off a fitted estimator (or Pipeline).

    Labels come from ``classes_``; columns from ``feature_names_in_`` or, failing that,
    ``n_features_in_`` numbered features ``f0 … fN-1``.
    """
    from sklearn.base import is_classifier, is_regressor

    final = _final_step(estimator)
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
        names = getattr(_first_step(estimator), "feature_names_in_", None)
    if names is not None:
        inputs = [{"name": str(n), "dtype": "float64"} for n in names]
        explicit = True
    else:
        n = getattr(estimator, "n_features_in_", None) or getattr(_first_step(estimator), "n_features_in_", None)
        if n is None:
            raise InvalidArgument(
                "Cannot tell how many features the estimator expects (no feature_names_in_ or n_features_in_). "
                "Fit it before importing."
            )
        inputs = [{"name": f"f{i}", "dtype": "float64"} for i in range(int(n))]
        explicit = False
    return {"problem_type": problem, "labels": labels, "inputs": inputs, "named_features": explicit}


def _first_step(estimator: Any) -> Any:
    steps = getattr(estimator, "steps", None)
    return steps[0][1] if steps else estimator


def save(
    estimator: Any,
    folder: str | Path,
    *,
    feature_names: list[str] | None = None,
    labels: list[str] | None = None,
    problem_type: str | None = None,
    dtypes: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    lineage: dict[str, Any] | None = None,
    code_dir: str | Path | None = None,
    samples: Any = None,
    input_kind: str = "tabular",
    inputs: list[dict[str, str]] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Manifest:
    """Write a fitted estimator as a model artifact folder (model.joblib + slipway-model.json).

    Anything not given is inferred from the estimator. ``labels`` must follow ``classes_`` order
    (the columns of predict_proba). ``samples`` (rows of training data, numeric signatures only) are
    kept as samples.json, up to 64 of them, to verify the ONNX export against. ``inputs`` gives the
    signature's columns with their dtypes as training saw them. Returns the manifest written.
    """
    import joblib

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    info = describe_estimator(estimator) if inputs is None or problem_type is None else None
    if inputs is None:
        assert info is not None
        inputs = info["inputs"]
        if feature_names is not None:
            if len(feature_names) != len(inputs):
                raise InvalidArgument(
                    f"feature_names has {len(feature_names)} names; the estimator expects {len(inputs)} features.",
                    {"field": "feature_names"},
                )
            inputs = [{"name": n, "dtype": "float64"} for n in feature_names]
        inputs = [{**i, "dtype": (dtypes or {}).get(i["name"], i["dtype"])} for i in inputs]
    problem = problem_type or (info or {}).get("problem_type")
    if labels is None and problem in CLASSIFIERS:
        final = _final_step(estimator)
        labels = [str(c) for c in getattr(estimator, "classes_", getattr(final, "classes_", []))] or None
    manifest = Manifest(
        framework=NAME, model_file=MODEL_FILE, problem_type=problem,
        signature=Signature(input_kind, inputs, None,
                            [str(x) for x in labels] if labels is not None and problem in CLASSIFIERS else None),
        metrics=dict(metrics or {}), lineage=dict(lineage or {}), created_at=now(),
    )
    joblib.dump(estimator, out / MODEL_FILE)
    for name, text in (extra_files or {}).items():
        (out / name).write_text(text)
    if samples is not None:
        from slipway.artifacts.onnx_runtime import SAMPLES_FILE

        try:
            rows = np.asarray(getattr(samples, "to_numpy", lambda: samples)(), dtype=np.float64)[:64]
            (out / SAMPLES_FILE).write_text(json.dumps(rows.tolist()))
        except (TypeError, ValueError):  # non-numeric rows: nothing to verify an export on
            pass
    if code_dir is not None:
        shutil.copytree(code_dir, out / "code", dirs_exist_ok=True)
    manifest.write(out)
    return manifest


def save_sklearn_artifact(estimator: Any, folder: str | Path, **kwargs: Any) -> dict[str, Any]:
    """``save`` returning the manifest as a dict (for callers outside the artifact layer: demo, bench, tests)."""
    return save(estimator, folder, **kwargs).to_dict()


def load_estimator(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # a pickle can fail in any way
        raise InvalidArgument(
            f"Cannot load {path.name} with joblib ({type(exc).__name__}: {exc}). "
            "Expected a scikit-learn estimator saved with joblib.dump.",
            {"field": "model", "value": path.name},
        ) from None


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> EstimatorPredictor:
    """The estimator (or its verified ONNX export, which then serves instead) behind a predictor."""
    folder = Path(folder)
    if not manifest.model_file:
        raise InvalidArgument("This scikit-learn model has no model_file to load. Expected model.joblib, or "
                              "code/inference.py with a model_fn.", {"field": "model_file"})
    fast = load_onnx_export(folder, manifest) if onnx else None
    return EstimatorPredictor(NAME, load_estimator(folder / manifest.model_file), manifest, onnx=fast,
                              runtime="scikit-learn")


def export_onnx(folder: Path, manifest: Manifest, estimator: Any | None = None) -> dict[str, Any]:
    from slipway.artifacts.onnx_runtime import export_estimator

    return export_estimator(folder, manifest, estimator, _convert)


def _convert(estimator: Any, n_features: int, dtype: Any, classifier: bool) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    tensor = DoubleTensorType if dtype == np.float64 else FloatTensorType
    options = {"zipmap": False} if classifier else None
    onx = to_onnx(estimator, initial_types=[("input", tensor([None, n_features]))], options=options,
                  target_opset={"": 17, "ai.onnx.ml": 3})
    return onx.SerializeToString()  # type: ignore[no-any-return]


# -- SageMaker's scikit-learn container defaults ---------------------------------------------------


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    """As the scikit-learn container: JSON/CSV/.npy in as an array, ``model.predict``, the bare answer out."""
    from slipway.serving.payloads import decode_instances, encode_array

    def model_fn(model_dir: str) -> Any:
        if manifest.model_file:
            return load_estimator(Path(model_dir) / manifest.model_file)
        raise InvalidArgument(
            "The model's code defines no model_fn and the artifact has no model file. Expected a model_fn(model_dir) "
            "in the entry point or code/inference.py that loads the model, as SageMaker's scikit-learn "
            "container needs.",
            {"field": "model_fn"})

    def input_fn(body: Any, content_type: str) -> Any:
        data = decode_instances(body, content_type, finite=False)
        try:
            return np.asarray(data)
        except ValueError:  # ragged
            return data

    def predict_fn(data: Any, model: Any) -> Any:
        return model.predict(data)

    return Defaults(model_fn, input_fn, predict_fn, encode_array)
