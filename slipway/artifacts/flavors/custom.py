"""The custom flavor: a model that only its own SageMaker handlers know how to load and run (model_fn required)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.handlers import Defaults, HandlerPredictor, load_handlers
from slipway.artifacts.manifest import Manifest
from slipway.errors import InvalidArgument

__all__ = ["EXTRA", "NAME", "defaults", "export_onnx", "load"]

NAME = "custom"
EXTRA = None


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    """Generic container defaults: JSON/CSV/.npy in as an array, ``model.predict`` (or ``model(x)``), bare out."""
    from slipway.serving.payloads import decode_instances, encode_array

    def model_fn(model_dir: str) -> Any:
        raise InvalidArgument(
            "This model's code defines no model_fn. Expected a model_fn(model_dir) in code/inference.py (or the "
            "training entry point) that loads the model.", {"field": "model_fn"})

    def input_fn(body: Any, content_type: str) -> Any:
        data = decode_instances(body, content_type, finite=False)
        try:
            return np.asarray(data)
        except ValueError:  # ragged
            return data

    def predict_fn(data: Any, model: Any) -> Any:
        return model.predict(data) if hasattr(model, "predict") else model(data)

    return Defaults(model_fn, input_fn, predict_fn, encode_array)


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> HandlerPredictor:
    handlers = load_handlers(Path(folder), manifest)
    return HandlerPredictor(NAME, handlers, defaults(manifest, device), Path(folder), manifest.signature.labels)


def export_onnx(folder: Path, manifest: Manifest) -> dict[str, Any]:
    return {"verified": False, "reason": "custom code is served as it is, not exported"}
