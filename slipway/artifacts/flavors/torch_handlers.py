"""PyTorch models served the way SageMaker's PyTorch container serves them (its default handlers).

The folder holds `model.pt`/`model.pth` (TorchScript) and optionally handlers in `code/inference.py` or
the entry point; a missing handler falls back to the container's default: TorchScript load, JSON/CSV/NumPy
in, `model(tensor)` under `no_grad`, the bare output as JSON (or CSV/NumPy) out. A TorchScript file without
code whose ONNX export the registry verified runs in ONNX Runtime for inputs of the signature's shape (the
shape it was verified on); PyTorch takes any other. When the signature names the classes, a JSON answer
is Slipway's label/confidence shape.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slipway.artifacts.flavors.torch_builtin import quiet_torchscript, select_device
from slipway.artifacts.handlers import Defaults, HandlerPredictor, load_handlers
from slipway.artifacts.labels import label_rows, to_probabilities
from slipway.artifacts.manifest import Manifest
from slipway.errors import InvalidArgument
from slipway.serving.payloads import accept_media, decode_instances, encode, encode_array

__all__ = ["defaults", "load_handlers_predictor"]

log = logging.getLogger("slipway.serving")

_MODEL_FILES = ("model.pt", "model.pth")


def default_model_fn(model_dir: str, device: torch.device) -> Any:
    folder = Path(model_dir)
    for name in _MODEL_FILES:
        path = folder / name
        if not path.exists():
            continue
        try:
            with quiet_torchscript():
                return torch.jit.load(str(path), map_location=device)
        except RuntimeError as exc:
            raise InvalidArgument(
                f"{name} in '{folder.name}' is not TorchScript (a state dict or pickled module?); "
                "add code/inference.py with a model_fn(model_dir) that builds the network and loads it.",
                {"field": "model", "value": name, "expected": "TorchScript or code/inference.py model_fn"},
            ) from exc
    raise InvalidArgument(
        f"Model folder '{folder.name}' has neither model.pt nor model.pth, and no code/inference.py model_fn; "
        "expected a TorchScript model.pt, or a model_fn that loads the model.",
        {"field": "model", "value": str(folder), "expected": list(_MODEL_FILES)},
    )


def default_input_fn(body: bytes | str, content_type: str) -> torch.Tensor:
    data = decode_instances(body, content_type)
    try:
        array = np.asarray(data, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(
            f"The input is not a rectangular array of numbers ({exc}); the PyTorch model expects nested arrays "
            "of numbers.",
            {"field": "instances", "expected": "nested arrays of numbers"},
        ) from exc
    return torch.from_numpy(array)


def default_predict_fn(data: torch.Tensor, model: Any, device: torch.device) -> torch.Tensor:
    model.eval()
    try:
        with torch.no_grad():
            return model(data.to(device))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidArgument(
            f"The model rejected an input of shape {list(data.shape)}: {first}.",
            {"field": "instances", "value": list(data.shape)},
        ) from exc


def _to_numpy(prediction: Any) -> Any:
    if isinstance(prediction, torch.Tensor):
        return prediction.detach().cpu().numpy()
    return prediction


def labelled(prediction: Any, labels: list[str]) -> list[dict[str, Any]] | None:
    """Label, confidence and probabilities per row when the output has one column per class, else None."""
    out = np.asarray(_to_numpy(prediction))
    if not labels or out.ndim != 2 or out.shape[1] != len(labels):
        return None
    proba = to_probabilities(out, len(labels))
    return None if proba is None else label_rows(proba, labels)


def defaults(manifest: Manifest, device: str | None = None, onnx_net: Any = None) -> Defaults:
    dev = select_device(device)
    labels = list(manifest.signature.labels or [])
    onnx_shape = tuple(int(d) for d in manifest.signature.input_shape or ())

    def model_fn(model_dir: str) -> Any:
        return default_model_fn(model_dir, dev)

    def predict_fn(data: Any, model: Any) -> Any:
        if (onnx_net is not None and isinstance(data, torch.Tensor) and data.dtype == torch.float32
                and data.ndim >= 1 and tuple(data.shape[1:]) == onnx_shape and len(data)):
            return onnx_net(data.numpy())
        return default_predict_fn(data, model, dev)

    def output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
        if accept_media(accept) == "application/json":
            rows = labelled(prediction, labels)  # a classifier with known labels answers like every other
            if rows is not None:
                return encode(rows, False)
        return encode_array(_to_numpy(prediction), accept)

    return Defaults(model_fn, default_input_fn, predict_fn, output_fn)


class TorchHandlerPredictor(HandlerPredictor):
    """A user PyTorch model behind SageMaker handlers; ``predict`` answers labels when the signature has them."""

    def __init__(self, folder: Path, manifest: Manifest, handlers: dict[str, Any], defaults: Defaults,
                 onnx_net: Any = None) -> None:
        with quiet_torchscript():
            super().__init__("pytorch", handlers, defaults, folder, list(manifest.signature.labels or []))
        if isinstance(self.model, torch.nn.Module):
            self.model.eval()
        # The verified export, for float32 inputs of [N, *input_shape]; not named `onnx`, as torch is loaded
        # here too (a replica forks workers only where ONNX Runtime alone serves).
        self.onnx_net = onnx_net
        self.runtime = "custom code" if handlers else "onnxruntime" if onnx_net is not None else "pytorch"

    def predict(self, inputs: Any) -> Any:
        """Decoded instances -> label/confidence/probabilities when the signature has labels, else values."""
        prediction = super().predict(_to_numpy(inputs).tolist() if isinstance(inputs, np.ndarray) else inputs)
        rows = labelled(prediction, self.labels)
        if rows is not None:
            return rows
        output = np.asarray(_to_numpy(prediction), dtype=np.float64)
        return [{"value": row.tolist() if isinstance(row, np.ndarray) else row} for row in output]


def load_handlers_predictor(folder: Path | str, manifest: Manifest, device: str | None = None,
                            onnx: bool = True) -> TorchHandlerPredictor:
    """A SageMaker-style PyTorch folder, calling the user's `model_fn(model_dir)` when there is one.

    With ``onnx`` (and no device other than the CPU asked for), a folder without handlers whose export the
    registry verified gets its ONNX Runtime session too.
    """
    from slipway.artifacts.onnx_runtime import OnnxNet

    folder = Path(folder)
    handlers = load_handlers(folder, manifest)
    info = manifest.onnx or {}
    net = None
    if onnx and device in (None, "cpu") and not handlers and info.get("verified") and (folder / info["file"]).is_file():
        try:
            net = OnnxNet(folder / info["file"])
        except Exception:  # e.g. onnxruntime not installed here: PyTorch serves
            log.warning("The ONNX export could not be loaded; serving the model with PyTorch", exc_info=True)
    return TorchHandlerPredictor(folder, manifest, handlers, defaults(manifest, device, net), onnx_net=net)
