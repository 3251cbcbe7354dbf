"""The ONNX flavor: a model that is an ONNX graph already (model.onnx), served by ONNX Runtime.

Rows are decoded against the signature when it names columns, else as an array; a classifier whose
graph gives probabilities answers Slipway's label/confidence shape, anything else its first output bare.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors import require_extra
from slipway.artifacts.handlers import Defaults
from slipway.artifacts.labels import label_rows
from slipway.artifacts.manifest import Manifest, Signature, now
from slipway.serving.payloads import decode, decode_instances, encode, encode_array, wants_csv

__all__ = ["EXTRA", "NAME", "OnnxPredictor", "defaults", "export_onnx", "load", "save"]

NAME = "onnx"
EXTRA = "onnx"
MODEL_FILE = "model.onnx"


class OnnxPredictor:
    framework = NAME
    runtime = "onnxruntime"

    def __init__(self, path: Path, manifest: Manifest) -> None:
        from slipway.artifacts.onnx_runtime import session

        self.session = session(path)
        first = self.session.get_inputs()[0]
        self.input = first.name
        self.dtype = np.float64 if first.type == "tensor(double)" else np.float32
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.manifest = manifest
        self.signature = manifest.signature.to_dict()
        self.labels = list(manifest.signature.labels or [])

    def run(self, x: Any) -> list[np.ndarray]:
        arr = np.asarray(x.to_numpy() if hasattr(x, "to_numpy") else x, dtype=self.dtype)
        return list(self.session.run(self.outputs, {self.input: arr}))

    def predict(self, inputs: Any) -> Any:
        outs = self.run(inputs)
        if self.manifest.classifier and self.labels:
            proba = next((o for o in outs if o.ndim == 2 and o.shape[1] == len(self.labels)), None)
            if proba is not None:
                return label_rows(proba, self.labels)
        return outs[0]

    def invoke(self, body: bytes, content_type: str = "application/json",
               accept: str = "application/json") -> tuple[bytes, str]:
        data = decode(body, content_type, self.signature) if self.signature["inputs"] else \
            decode_instances(body, content_type, finite=False)
        prediction = self.predict(data)
        if isinstance(prediction, list):
            return encode(prediction, wants_csv(accept))
        return encode_array(prediction, accept)


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> OnnxPredictor:
    require_extra(NAME, "An ONNX model")
    return OnnxPredictor(Path(folder) / (manifest.model_file or MODEL_FILE), manifest)


def save(model: bytes | Path, folder: Path | str, *, signature: Signature | None = None,
         problem_type: str | None = None, metrics: dict[str, float] | None = None,
         lineage: dict[str, Any] | None = None) -> Manifest:
    """An ONNX graph (its bytes or a file) as a model artifact."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(model, (bytes, bytearray)):
        (out / MODEL_FILE).write_bytes(bytes(model))
    else:
        shutil.copyfile(model, out / MODEL_FILE)
    manifest = Manifest(NAME, MODEL_FILE, problem_type, signature or Signature("array"), dict(metrics or {}),
                        dict(lineage or {}), now())
    manifest.write(out)
    return manifest


def export_onnx(folder: Path, manifest: Manifest) -> dict[str, Any]:
    return {"verified": False, "reason": "the model is an ONNX graph already; ONNX Runtime serves it as it is"}


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    require_extra(NAME, "An ONNX model")
    from slipway.artifacts.flavors.custom import defaults as generic

    base = generic(manifest, device)

    def model_fn(model_dir: str) -> Any:
        return OnnxPredictor(Path(model_dir) / (manifest.model_file or MODEL_FILE), manifest)

    def predict_fn(data: Any, model: Any) -> Any:
        return model.run(data)[0]

    return Defaults(model_fn, base.input_fn, predict_fn, base.output_fn)
