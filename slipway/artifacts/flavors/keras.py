"""The Keras flavor: Keras 3 `.keras` files served with the same predictor interface as the PyTorch networks.

Keras runs on the PyTorch backend: `KERAS_BACKEND=torch` is set unless the user chose
another backend before Keras was first imported.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors import require_extra
from slipway.artifacts.flavors.base import InvokeMixin
from slipway.artifacts.labels import label_rows, to_probabilities
from slipway.artifacts.manifest import MANIFEST, Manifest
from slipway.artifacts.preprocessing import as_instances, decode_images, decode_texts
from slipway.errors import InvalidArgument

__all__ = ["EXTRA", "NAME", "KerasPredictor", "defaults", "export_onnx", "import_keras", "load", "load_keras_artifact"]

NAME = "keras"
EXTRA = "keras"


def import_keras() -> Any:
    """Import Keras on the torch backend (unless KERAS_BACKEND says otherwise), naming the extra if missing."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    require_extra("keras", "A Keras model")
    import keras

    return keras


class KerasPredictor(InvokeMixin):
    framework = "keras"
    runtime = "keras"

    def __init__(self, path: Path, model: Any, meta: dict[str, Any], preprocessing: dict[str, Any]) -> None:
        self.path, self.model, self.meta = path, model, meta
        signature = dict(meta.get("signature") or {})
        self.model_input_shape = [int(d) for d in model.input_shape[1:] if d is not None]
        # A signature that gives no shape (a script's model, a bare .keras import) is read off the model.
        if signature.get("input_kind") in (None, "array", "tabular") and not signature.get("input_shape"):
            shape = self.model_input_shape
            image = len(shape) == 3 and shape[-1] in (1, 3) or len(shape) == 2
            signature["input_kind"] = "image" if image else "array"
            if image:
                signature["input_shape"] = shape[:2] if len(shape) == 2 or shape[-1] == 1 else shape
            else:
                signature["input_shape"] = shape
        if not signature.get("labels"):
            outputs = int(model.output_shape[-1] or 1)
            signature["labels"] = [str(i) for i in range(max(outputs, 2))]
        self.signature = signature
        self.input_kind: str = signature["input_kind"]
        self.labels: list[str] = [str(label) for label in signature["labels"]]
        self.value_max = float((preprocessing.get("value_range") or [0, 255])[1])

    def prepare(self, inputs: Any) -> Any:
        if self.input_kind == "text":
            return np.array(decode_texts(inputs))
        if self.input_kind == "image":
            x = decode_images(inputs, self.signature["input_shape"], self.value_max)
            return x.reshape(len(x), *self.model_input_shape)
        shape = self.signature.get("input_shape") or self.model_input_shape
        rows = []
        for i, inst in enumerate(as_instances(inputs)):
            try:
                arr = np.asarray(inst, dtype=np.float32)
            except (ValueError, TypeError):
                raise InvalidArgument(
                    f"Instance {i} is not an array of numbers; this model expects an array of shape {list(shape)}.",
                    {"field": f"instances[{i}]", "expected": {"input_shape": list(shape)}},
                ) from None
            if arr.size != int(np.prod(shape)):
                raise InvalidArgument(
                    f"Instance {i} has shape {list(arr.shape)}; this model expects an array of shape {list(shape)}.",
                    {"field": f"instances[{i}]", "value": list(arr.shape), "expected": {"input_shape": list(shape)}},
                )
            rows.append(arr.reshape(shape))
        return np.stack(rows)

    def predict_proba(self, inputs: Any) -> np.ndarray:
        out = np.asarray(self.model.predict(self.prepare(inputs), verbose=0))
        return to_probabilities(out)  # type: ignore[return-value]

    def predict(self, inputs: Any) -> list[dict[str, Any]]:
        return label_rows(self.predict_proba(inputs), self.labels)


def load_keras_artifact(path: Path | str) -> KerasPredictor:
    """Load a `.keras` file, or a folder holding one (with an optional slipway-model.json)."""
    path = Path(path)
    keras = import_keras()
    model_path: Path = path
    meta: dict[str, Any] = {}
    preprocessing: dict[str, Any] = {}
    if path.is_dir():
        folder = path
        if (folder / MANIFEST).exists():
            meta = Manifest.read(folder).to_dict()
        if (folder / "preprocessing.json").exists():
            preprocessing = json.loads((folder / "preprocessing.json").read_text())
        if meta.get("model_file"):
            model_path = folder / meta["model_file"]
        else:
            found = sorted(folder.glob("*.keras"))
            if len(found) != 1:
                raise InvalidArgument(
                    f"Model folder '{folder.name}' has {len(found)} .keras files; expected exactly one, or "
                    "slipway-model.json naming it in model_file.",
                    {"field": "model", "value": [f.name for f in found]},
                )
            model_path = found[0]
    try:
        model = keras.saving.load_model(str(model_path), compile=False)
    except (ValueError, OSError) as exc:
        raise InvalidArgument(
            f"'{model_path.name}' cannot be loaded as a Keras 3 model ({exc}); expected a file saved by "
            "model.save('x.keras').",
            {"field": "model", "value": model_path.name},
        ) from exc
    return KerasPredictor(model_path, model, meta, preprocessing)


def load(folder: Path, manifest: Manifest | None = None, *, onnx: bool = True, device: str | None = None
         ) -> KerasPredictor:
    return load_keras_artifact(folder)


def export_onnx(folder: Path, manifest: Manifest) -> dict[str, Any]:
    return {"verified": False, "reason": "Keras models are not exported; Keras (on PyTorch) serves them"}


def defaults(manifest: Manifest, device: str | None = None) -> Any:
    """Generic container defaults over the Keras model: arrays in, ``model.predict``, the bare output out."""
    from slipway.artifacts.flavors.custom import defaults as generic
    from slipway.artifacts.handlers import Defaults

    base = generic(manifest, device)

    def model_fn(model_dir: str) -> Any:
        return load_keras_artifact(Path(model_dir)).model

    def predict_fn(data: Any, model: Any) -> Any:
        return model.predict(data, verbose=0)

    return Defaults(model_fn, base.input_fn, predict_fn, base.output_fn)
