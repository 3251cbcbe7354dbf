"""scikit-learn artifacts: save a fitted estimator to the contract; infer its signature when imported."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument
from slipway.frameworks.artifact import MANIFEST, manifest_bytes, validate_manifest

__all__ = ["describe_estimator", "load_estimator", "save_sklearn_artifact"]

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


def save_sklearn_artifact(
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
    extra: dict[str, Any] | None = None,
    samples: Any = None,
) -> dict[str, Any]:
    """Write a fitted estimator as a model artifact folder (model.joblib + slipway-model.json).

    Anything not given is inferred from the estimator. ``labels`` must follow ``classes_`` order
    (the columns of predict_proba). ``samples`` (rows of training data, numeric signatures only) are
    kept as samples.json, up to 64 of them, to verify the ONNX export against. Returns the manifest written.
    """
    import joblib

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    info = describe_estimator(estimator)
    inputs = info["inputs"]
    if feature_names is not None:
        if len(feature_names) != len(inputs):
            raise InvalidArgument(
                f"feature_names has {len(feature_names)} names; the estimator expects {len(inputs)} features.",
                {"field": "feature_names"},
            )
        inputs = [{"name": n, "dtype": "float64"} for n in feature_names]
    for i in inputs:
        i["dtype"] = (dtypes or {}).get(i["name"], i["dtype"])
    manifest = {
        "format_version": 1,
        "framework": "sklearn",
        "model_file": MODEL_FILE,
        "problem_type": problem_type or info["problem_type"],
        "signature": {
            "input_kind": "tabular",
            "inputs": inputs,
            "input_shape": None,
            "labels": [str(x) for x in labels] if labels is not None else info["labels"],
        },
        "metrics": dict(metrics or {}),
        "lineage": dict(lineage or {}),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    joblib.dump(estimator, out / MODEL_FILE)
    if samples is not None:
        import numpy as np

        from slipway.frameworks.onnx import SAMPLES_FILE

        rows = np.asarray(getattr(samples, "to_numpy", lambda: samples)(), dtype=np.float64)[:64]
        (out / SAMPLES_FILE).write_text(json.dumps(rows.tolist()))
    if code_dir is not None:
        shutil.copytree(code_dir, out / "code", dirs_exist_ok=True)
    manifest = validate_manifest(manifest, out)
    (out / MANIFEST).write_bytes(manifest_bytes(manifest))
    return manifest


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
