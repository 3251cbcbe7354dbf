"""User PyTorch artifacts served the way SageMaker's PyTorch container serves them.

The folder holds `model.pt`/`model.pth` (TorchScript) and optionally `code/inference.py`
with `model_fn`, `input_fn`, `predict_fn`, `output_fn` or `transform_fn`; a missing
handler falls back to the container's default: TorchScript load, JSON/CSV/NumPy in,
`model(tensor)` under `no_grad`, JSON (or CSV/NumPy) out. A TorchScript file without
code whose ONNX export the registry verified runs in ONNX Runtime for inputs of the
signature's shape (the shape it was verified on); PyTorch takes any other.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import io
import json
import logging
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from slipway.errors import InvalidArgument
from slipway.frameworks.deep_inputs import format_predictions
from slipway.frameworks.deep_serving import MODEL_JSON, decode_body, encode_predictions, read_model_json
from slipway.frameworks.onnx import OnnxNet
from slipway.frameworks.torch_artifact import quiet_torchscript
from slipway.frameworks.torch_fit import select_device
from slipway.frameworks.torch_onnx import labelled_probabilities

__all__ = ["HandlerPredictor", "load_pytorch_handlers"]

log = logging.getLogger("slipway.serving")

_MODEL_FILES = ("model.pt", "model.pth")


def _import_inference(folder: Path) -> ModuleType | None:
    path = folder / "code" / "inference.py"
    if not path.exists():
        return None
    code_dir = str(path.parent)
    if code_dir not in sys.path:  # helper modules beside inference.py import as in the container
        sys.path.insert(0, code_dir)
    name = "slipway_inference_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _call(fn: Any, *args: Any, context: Any = None) -> Any:
    """Handlers may take an extra trailing `context` argument (toolkit 2.x)."""
    try:
        params = inspect.signature(fn).parameters.values()
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if len(positional) > len(args):
            return fn(*args, context)
    except (TypeError, ValueError):
        pass
    return fn(*args)


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
    data = decode_body(body, content_type)
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


def default_output_fn(prediction: Any, accept: str) -> tuple[bytes, str]:
    value = _to_numpy(prediction)
    media = (accept or "application/json").split(";")[0].strip().lower()
    if media == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        return buffer.getvalue(), media
    if media == "text/csv":
        rows = np.atleast_2d(np.asarray(value))
        return ("\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n").encode(), media
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value).encode(), "application/json"


def _normalise_output(out: Any, accept: str) -> tuple[bytes, str]:
    """output_fn may return bytes, a str, a (body, content_type) tuple, or a JSON-able value."""
    ctype: str | None = None
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], str):
        out, ctype = out
    if isinstance(out, (bytes, bytearray)):
        return bytes(out), ctype or accept
    if isinstance(out, str):
        return out.encode(), ctype or accept
    body, json_type = default_output_fn(out, "application/json")
    return body, ctype or json_type


class HandlerPredictor:
    """A user model behind SageMaker-style handlers (theirs where given, the container's otherwise)."""

    framework = "pytorch"

    def __init__(self, folder: Path, module: ModuleType | None, model: Any, meta: dict[str, Any],
                 device: torch.device, onnx_net: Any = None) -> None:
        self.folder, self.module, self.model, self.meta, self.device = folder, module, model, meta, device
        signature = meta.get("signature") or {}
        self.labels: list[str] = [str(label) for label in signature.get("labels") or []]
        # The verified export, for float32 inputs of [N, *input_shape]; not named `onnx`, as torch is loaded
        # here too (a replica forks workers only where ONNX Runtime alone serves).
        self.onnx_net = onnx_net
        self._onnx_shape = tuple(int(d) for d in signature.get("input_shape") or ())
        self.runtime = "custom code" if module is not None else "onnxruntime" if onnx_net is not None else "pytorch"

    def _handler(self, name: str) -> Any:
        return getattr(self.module, name, None) if self.module is not None else None

    def invoke(self, body: bytes, content_type: str = "application/json", accept: str = "application/json") -> tuple[
        bytes, str
    ]:
        """Run one request through transform_fn, or input_fn → predict_fn → output_fn."""
        transform = self._handler("transform_fn")
        if transform is not None:
            return _normalise_output(_call(transform, self.model, body, content_type, accept), accept)
        prediction = self._predict_raw(self._input(body, content_type))
        output_fn = self._handler("output_fn")
        if output_fn is not None:
            return _normalise_output(_call(output_fn, prediction, accept), accept)
        media = (accept or "application/json").split(";")[0].strip().lower()
        if media in ("application/json", "*/*", ""):
            labelled = self._labelled(prediction)  # a classifier with known labels answers like every other
            if labelled is not None:
                return encode_predictions(labelled, "application/json")
        return default_output_fn(prediction, accept)

    def _labelled(self, prediction: Any) -> list[dict[str, Any]] | None:
        """Label, confidence and probabilities per row when the signature names the classes, else None."""
        proba = labelled_probabilities(_to_numpy(prediction), len(self.labels))
        return None if proba is None else format_predictions(proba, self.labels)

    def _input(self, body: Any, content_type: str) -> Any:
        input_fn = self._handler("input_fn")
        return _call(input_fn, body, content_type) if input_fn is not None else default_input_fn(body, content_type)

    def _predict_raw(self, data: Any) -> Any:
        predict_fn = self._handler("predict_fn")
        if predict_fn is not None:
            return _call(predict_fn, data, self.model)
        if (self.onnx_net is not None and isinstance(data, torch.Tensor) and data.dtype == torch.float32
                and data.ndim >= 1 and tuple(data.shape[1:]) == self._onnx_shape and len(data)):
            return self.onnx_net(data.numpy())
        return default_predict_fn(data, self.model, self.device)

    def predict(self, inputs: Any) -> list[dict[str, Any]]:
        """Decoded instances → label/confidence/probabilities when the signature has labels, else values."""
        body = json.dumps(_to_numpy(inputs).tolist() if isinstance(inputs, np.ndarray) else inputs)
        prediction = self._predict_raw(self._input(body, "application/json"))
        labelled = self._labelled(prediction)
        if labelled is not None:
            return labelled
        output = np.asarray(_to_numpy(prediction), dtype=np.float64)
        return [{"value": row.tolist() if isinstance(row, np.ndarray) else row} for row in output]


def load_pytorch_handlers(folder: Path | str, device: str | None = None, onnx: bool = True) -> HandlerPredictor:
    """Load a SageMaker-style PyTorch folder, calling the user's `model_fn(model_dir)` when present.

    With ``onnx`` (and no device other than the CPU asked for), a folder without code/inference.py
    whose export the registry verified gets its ONNX Runtime session too.
    """
    folder = Path(folder)
    dev = select_device(device)
    meta = read_model_json(folder) if (folder / MODEL_JSON).exists() else {}
    module = _import_inference(folder)
    model_fn = getattr(module, "model_fn", None) if module is not None else None
    if model_fn is not None:
        with quiet_torchscript():
            model = _call(model_fn, str(folder))
    else:
        model = default_model_fn(str(folder), dev)
    if isinstance(model, torch.nn.Module):
        model.eval()
    info = meta.get("onnx") or {}
    net = None
    if onnx and device in (None, "cpu") and module is None and info.get("verified") and (folder / info["file"]).is_file():
        try:
            net = OnnxNet(folder / info["file"])
        except Exception:  # e.g. onnxruntime not installed here: PyTorch serves
            log.warning("The ONNX export could not be loaded; serving the model with PyTorch", exc_info=True)
    return HandlerPredictor(folder, module, model, meta, dev, onnx_net=net)
