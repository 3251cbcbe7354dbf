"""One entry point for replicas: `load_predictor(folder)` for any deep-learning artifact.

Every predictor has `predict(instances) -> list[dict]` (label, confidence and
probabilities for classifiers) and `invoke(body, content_type, accept) -> (bytes,
content_type)` for raw requests; SageMaker-style folders with `code/inference.py` are
served through their own handlers by `invoke`.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from slipway.errors import InvalidArgument

__all__ = [
    "MODEL_JSON",
    "InvokeMixin",
    "Predictor",
    "decode_body",
    "encode_predictions",
    "load_predictor",
    "read_model_json",
    "require_extra",
]

_EXTRA_MODULES = {"pytorch": "torch", "keras": "keras"}
MODEL_JSON = "slipway-model.json"


class Predictor(Protocol):
    framework: str
    labels: list[str]
    runtime: str  # what runs the model: onnxruntime, pytorch, keras or custom code

    def predict(self, inputs: Any) -> list[dict[str, Any]]: ...

    def invoke(self, body: bytes, content_type: str = ..., accept: str = ...) -> tuple[bytes, str]: ...


def require_extra(extra: str, what: str) -> None:
    """Raise InvalidArgument naming the extra to install when its library is missing."""
    import importlib.util

    module = _EXTRA_MODULES[extra]
    try:
        missing = importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a finder that refuses the module: as good as missing
        missing = True
    if missing:
        raise InvalidArgument(
            f"{what} needs the '{extra}' extra, which is not installed on this machine: "
            f"install it with `pip install 'slipway[{extra}]'` and try again.",
            {"field": "framework", "value": extra, "expected": f"slipway[{extra}] installed"},
        )


def _media(content_type: str | None) -> str:
    return (content_type or "application/json").split(";")[0].strip().lower()


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows; send finite numbers")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a float64; send finite numbers")
    return value


def _finite_rows(array: np.ndarray, row_word: str, row_base: int) -> np.ndarray:
    """A network has no imputer: inf, -inf and NaN are all refused, naming the row (a 400, not NaN answers)."""
    from slipway.serving.payloads import BadInput, check_finite

    try:
        check_finite(array if array.ndim > 1 else array.reshape(1, -1), None, row_word, row_base, allow_nan=False)
    except BadInput as exc:
        raise InvalidArgument(exc.message, exc.details) from None
    return array


def decode_body(body: bytes | str, content_type: str | None = "application/json") -> Any:
    """A request body → its instances (JSON, NumPy .npy, CSV rows of numbers, or text lines)."""
    media = _media(content_type)
    if isinstance(body, str):
        body = body.encode()
    if media == "application/json":
        try:
            data = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
            raise InvalidArgument(
                f"The request body is not valid JSON ({exc}); expected "
                '{"instances": [...]} or {"inputs": [...]}.',
                {"field": "body", "expected": "JSON"},
            ) from exc
        if isinstance(data, dict):
            for key in ("instances", "inputs"):
                if key in data:
                    return data[key]
            raise InvalidArgument(
                f"The JSON body has keys {sorted(data)}; expected 'instances' or 'inputs'.",
                {"field": "body", "value": sorted(data), "expected": ["instances", "inputs"]},
            )
        return data
    if media == "application/x-npy":
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InvalidArgument(f"The request body is not a NumPy .npy array ({exc}).", {"field": "body"}) from exc
        return _finite_rows(array, "Row", 0)
    if media == "text/csv":
        try:
            rows = np.loadtxt(io.StringIO(body.decode()), delimiter=",", dtype=np.float64, ndmin=2)
        except ValueError as exc:
            raise InvalidArgument(f"The CSV body has a value that is not a number ({exc}).",
                                  {"field": "body", "expected": "rows of numbers"}) from exc
        return _finite_rows(rows, "CSV row", 1)
    if media == "text/plain":
        return [line for line in body.decode(errors="replace").splitlines() if line.strip()]
    raise InvalidArgument(
        f"Content type '{media}' is not supported; expected application/json, application/x-npy, text/csv or "
        "text/plain.",
        {"field": "content_type", "value": media},
    )


def encode_predictions(predictions: list[dict[str, Any]], accept: str | None = "application/json") -> tuple[
    bytes, str
]:
    media = _media(accept)
    if media == "text/csv":
        return ("\n".join(f"{p['label']},{p['confidence']}" for p in predictions) + "\n").encode(), "text/csv"
    return json.dumps({"predictions": predictions}).encode(), "application/json"


def read_model_json(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_JSON
    try:
        meta: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise InvalidArgument(
            f"Model folder '{folder}' has no {MODEL_JSON}; expected a Slipway model artifact.",
            {"field": "model", "value": str(folder), "expected": MODEL_JSON},
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidArgument(f"{MODEL_JSON} in '{folder}' is not valid JSON ({exc}).", {"field": "model"}) from exc
    return meta


class InvokeMixin:
    """`invoke` for predictors whose `predict` takes decoded instances."""

    def predict(self, inputs: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def invoke(self, body: bytes, content_type: str = "application/json", accept: str = "application/json") -> tuple[
        bytes, str
    ]:
        return encode_predictions(self.predict(decode_body(body, content_type)), accept)


def load_predictor(folder: Path | str, device: str | None = None, onnx: bool = True) -> Predictor:
    """Load a PyTorch or Keras artifact folder, whichever layout it has.

    - `slipway-model.json` with framework "pytorch" and `preprocessing.json`: a built-in network;
    - framework "keras", or a `.keras` file: a Keras 3 model (KERAS_BACKEND=torch unless set);
    - `model.pt` / `model.pth` and/or `code/inference.py`: SageMaker's PyTorch container handlers.

    With ``onnx`` (and no device other than the CPU asked for), a PyTorch model whose ONNX export the
    registry verified runs in ONNX Runtime; a built-in network then does not import torch at all.
    """
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".keras":
        from slipway.frameworks.keras_artifact import load_keras_artifact

        return load_keras_artifact(folder)
    meta: dict[str, Any] = {}
    if (folder / "slipway-model.json").exists():
        meta = read_model_json(folder)
    framework = meta.get("framework")
    if framework == "keras" or (not meta and list(folder.glob("*.keras"))):
        from slipway.frameworks.keras_artifact import load_keras_artifact

        return load_keras_artifact(folder)
    onnx = onnx and device in (None, "cpu")
    if framework in ("pytorch", None, "custom"):
        builtin = framework == "pytorch" and (folder / "preprocessing.json").exists()
        if builtin and onnx:
            from slipway.frameworks.builtin_predictor import load_onnx_builtin

            fast = load_onnx_builtin(folder)
            if fast is not None:
                return fast
        require_extra("pytorch", "Serving a PyTorch model")
        if builtin:
            from slipway.frameworks.torch_artifact import load_torch_artifact

            return load_torch_artifact(folder, device=device)
        if (folder / "code" / "inference.py").exists() or any((folder / n).exists() for n in ("model.pt", "model.pth")):
            from slipway.frameworks.sagemaker_pytorch import load_pytorch_handlers

            return load_pytorch_handlers(folder, device=device, onnx=onnx)
    raise InvalidArgument(
        f"Model folder '{folder}' is not a PyTorch or Keras artifact (framework {framework!r}); expected "
        "slipway-model.json with framework 'pytorch' or 'keras', a .keras file, model.pt/model.pth, or "
        "code/inference.py with model_fn.",
        {"field": "model", "value": str(folder)},
    )
