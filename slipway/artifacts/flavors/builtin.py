"""A built-in network's predictor: request instances → the network's input → label, confidence, probabilities.

The network runs in PyTorch (`torch_builtin.TorchPredictor`) or, when the registry verified its ONNX
export, in ONNX Runtime (`load_onnx_builtin`, which never imports torch). Everything but the network
call is this class, so both runtimes decode, check and answer exactly alike.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors.base import InvokeMixin
from slipway.artifacts.labels import label_rows
from slipway.artifacts.manifest import Manifest
from slipway.artifacts.preprocessing import Vocabulary, decode_images, decode_texts
from slipway.errors import InvalidArgument

__all__ = ["BuiltinPredictor", "load_onnx_builtin", "read_builtin"]

log = logging.getLogger("slipway.serving")


class BuiltinPredictor(InvokeMixin):
    """`predict(instances)` → label, confidence, probabilities per row; `forward` runs the network."""

    framework = "pytorch"

    def __init__(self, folder: Path, meta: dict[str, Any], preprocessing: dict[str, Any],
                 vocabulary: Vocabulary | None, onnx: Any = None) -> None:
        self.folder = folder
        self.meta = meta
        self.signature: dict[str, Any] = meta["signature"]
        self.labels: list[str] = [str(label) for label in self.signature["labels"]]
        self.input_kind: str = self.signature["input_kind"]
        self.preprocessing = preprocessing
        self.vocabulary = vocabulary
        self.onnx = onnx  # an OnnxNet when the verified export serves: no torch in this process
        self.runtime = "onnxruntime" if onnx is not None else "pytorch"

    def prepare_array(self, inputs: Any) -> np.ndarray:
        """Decode and check instances: float32 [N, H, W, C] raw pixels or int64 [N, L] token ids.

        Raises InvalidArgument naming the bad instance.
        """
        if self.input_kind == "text":
            assert self.vocabulary is not None
            return self.vocabulary.encode(decode_texts(inputs), int(self.preprocessing["max_length"]))
        low, high = self.preprocessing.get("value_range", [0, 255])
        return decode_images(inputs, self.signature["input_shape"], float(high))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Prepared inputs → float32 probabilities [N, classes]."""
        assert self.onnx is not None
        return np.asarray(self.onnx(x), dtype=np.float32)

    def predict_proba(self, inputs: Any, batch_size: int = 256) -> np.ndarray:
        x = self.prepare_array(inputs)
        return np.concatenate([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    def predict(self, inputs: Any) -> list[dict[str, Any]]:
        return label_rows(self.predict_proba(inputs), self.labels)


def read_builtin(folder: Path) -> tuple[dict[str, Any], dict[str, Any], Vocabulary | None]:
    """A built-in network's slipway-model.json (as a dict), preprocessing.json and vocabulary (text models)."""
    meta = Manifest.read(folder).to_dict()
    if meta.get("framework") != "pytorch" or not (folder / "preprocessing.json").exists():
        raise InvalidArgument(
            f"Model folder '{folder}' is not a built-in PyTorch network (framework "
            f"{meta.get('framework')!r}, preprocessing.json {'present' if (folder / 'preprocessing.json').exists() else 'missing'}).",
            {"field": "model", "value": str(folder)},
        )
    preprocessing = json.loads((folder / "preprocessing.json").read_text())
    vocab_path = folder / preprocessing.get("vocabulary", "vocab.json")
    vocabulary = Vocabulary.load(vocab_path) if preprocessing.get("kind") == "text" else None
    return meta, preprocessing, vocabulary


def load_onnx_builtin(folder: Path | str) -> BuiltinPredictor | None:
    """The built-in network on its verified ONNX export, or None when there is none (PyTorch serves then)."""
    from slipway.artifacts.onnx_runtime import OnnxNet

    folder = Path(folder)
    meta, preprocessing, vocabulary = read_builtin(folder)
    info = meta.get("onnx") or {}
    if not info.get("verified") or not (folder / info.get("file", "")).is_file():
        return None
    try:
        net = OnnxNet(folder / info["file"])
    except Exception:  # e.g. onnxruntime not installed here: PyTorch serves
        log.warning("The ONNX export could not be loaded; serving the model with PyTorch", exc_info=True)
        return None
    return BuiltinPredictor(folder, meta, preprocessing, vocabulary, onnx=net)
