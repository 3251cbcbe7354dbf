"""What the XGBoost and LightGBM flavors share: saving a booster with its manifest, loading it behind the
estimator predictor, exporting it to ONNX, and the feature-count check.

Each flavor passes its own pieces (how to write the booster, ``describe``, ``load_model``, ``as_estimator``,
the onnxmltools converter); the steps around them are here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors.estimator import EstimatorPredictor, load_onnx_export
from slipway.artifacts.manifest import Manifest, Signature, now
from slipway.errors import InvalidArgument

__all__ = ["check_width", "export_booster", "load_booster", "save_booster"]


def check_width(got: int, expected: int, library: str = "XGBoost") -> None:
    if expected and got != expected:
        raise InvalidArgument(
            f"The rows have {got} features. Expected {expected} features per row (the number the {library} model "
            "was trained on).", {"field": "instances", "value": got, "expected": expected})


def save_booster(flavor: str, model_file: str, folder: Path | str, write: Callable[[Path], None], booster: Any,
                 describe: Callable[[Any], tuple[str | None, Signature]], *, metrics: dict[str, float] | None,
                 lineage: dict[str, Any] | None, feature_names: list[str] | None, labels: list[str] | None,
                 samples: Any) -> Manifest:
    """``write(path)`` saves the booster as ``model_file``; its problem type and signature are read off it
    (``feature_names`` and ``labels`` name the columns and classes), up to 64 ``samples`` rows kept for the
    ONNX check, and the manifest written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    write(out / model_file)
    problem, signature = describe(booster)
    if feature_names is not None:
        signature = Signature.tabular(feature_names, signature.labels)
    if labels is not None and signature.labels is not None:
        signature.labels = [str(x) for x in labels]
    if samples is not None:
        from slipway.artifacts.onnx_runtime import SAMPLES_FILE

        rows = np.asarray(getattr(samples, "to_numpy", lambda: samples)(), dtype=np.float64)[:64]
        (out / SAMPLES_FILE).write_text(json.dumps(rows.tolist()))
    manifest = Manifest(flavor, model_file, problem, signature, dict(metrics or {}), dict(lineage or {}), now())
    manifest.write(out)
    return manifest


def load_booster(flavor: str, folder: Path, manifest: Manifest, model_file: str, load_model: Callable[[Path], Any],
                 as_estimator: Callable[[Any], Any], *, onnx: bool) -> EstimatorPredictor:
    folder = Path(folder)
    est = as_estimator(load_model(folder / (manifest.model_file or model_file)))
    fast = load_onnx_export(folder, manifest) if onnx else None
    return EstimatorPredictor(flavor, est, manifest, onnx=fast, runtime=flavor)


def export_booster(folder: Path, manifest: Manifest, model_file: str, load_model: Callable[[Path], Any],
                   as_estimator: Callable[[Any], Any], convert: Callable[..., bytes], extra: str) -> dict[str, Any]:
    """onnxmltools converts the booster; the export is verified like any tabular model's."""
    try:
        import onnxmltools  # noqa: F401
    except ImportError:
        return {"verified": False, "reason": f"onnxmltools is not installed (pip install 'slipway[{extra}]')"}
    from slipway.artifacts.onnx_runtime import export_estimator

    est = as_estimator(load_model(folder / (manifest.model_file or model_file)))
    return export_estimator(folder, manifest, est, convert)
