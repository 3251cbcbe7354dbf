"""Model artifacts of the built-in networks: TorchScript `model.pt` plus what preprocessing needs.

Layout (see docs/developing.md for `slipway-model.json`):

    slipway-model.json   framework "pytorch", model_file "model.pt", signature, metrics, lineage
    model.pt             TorchScript: raw pixels [N, H, W, C] or token ids [N, L] → probabilities
    preprocessing.json   image: input shape, value range; text: tokenizer, max length
    vocab.json           text models only
    evaluation.json      metrics per class and the confusion matrix
    model.onnx           optional, when torch.onnx can export it
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slipway.errors import InvalidArgument
from slipway.frameworks.deep_data import Vocabulary
from slipway.frameworks.deep_inputs import decode_images, decode_texts, format_predictions
from slipway.frameworks.deep_serving import MODEL_JSON, InvokeMixin, read_model_json

__all__ = ["TorchPredictor", "load_torch_artifact", "quiet_torchscript", "save_torch_artifact"]

@contextlib.contextmanager
def quiet_torchscript() -> Iterator[None]:
    """TorchScript is deprecated from torch 2.9 on but is still SageMaker's `model.pt` format."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        yield


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _onnx_matches(model: torch.nn.Module, example: torch.Tensor, path: Path) -> bool:
    """Run the export on a batch of another size: a fast path must give the same probabilities."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probe = torch.cat([example, example, example[:1]])
    with torch.inference_mode():
        expected = model(probe).numpy()
    got = session.run(None, {"input": probe.numpy()})[0]
    return bool(np.allclose(got, expected, atol=1e-4))


def _export_onnx(model: torch.nn.Module, example: torch.Tensor, path: Path) -> bool:
    """Best effort: True when `model.onnx` was written and checked; any failure leaves nothing.

    Needs the `onnx` and `onnxruntime` packages; the legacy (TorchScript) exporter is used
    because the torch.export one needs onnxscript.
    """
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
        return False
    try:
        axes = {0: "batch"} if example.is_floating_point() else {0: "batch", 1: "length"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model, (example,), str(path), input_names=["input"], output_names=["probabilities"],
                dynamic_axes={"input": axes, "probabilities": {0: "batch"}}, dynamo=False,
            )
            if _onnx_matches(model, example, path):
                return True
    except Exception:  # noqa: BLE001 - an optional fast path: never fail the job over it
        pass
    path.unlink(missing_ok=True)
    return False


def save_torch_artifact(
    model_dir: Path | str,
    model: torch.nn.Module,
    example: torch.Tensor,
    *,
    problem_type: str,
    signature: Mapping[str, Any],
    preprocessing: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    lineage: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    vocabulary: Vocabulary | None = None,
    export_onnx: bool = True,
) -> Path:
    """Write the artifact into `model_dir` all or nothing; `slipway-model.json` is written last."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
    try:
        model = model.cpu().eval()
        with quiet_torchscript():
            torch.jit.save(torch.jit.script(model), str(staging / "model.pt"))
        _write_json(staging / "preprocessing.json", dict(preprocessing))
        if vocabulary is not None:
            vocabulary.save(staging / "vocab.json")
        if evaluation is not None:
            _write_json(staging / "evaluation.json", dict(evaluation))
        if export_onnx:
            _export_onnx(model, example.cpu(), staging / "model.onnx")
        meta = {
            "format_version": 1,
            "framework": "pytorch",
            "model_file": "model.pt",
            "problem_type": problem_type,
            "signature": dict(signature),
            "metrics": dict(metrics or {}),
            "lineage": dict(lineage or {}),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        for item in sorted(staging.iterdir()):
            os.replace(item, model_dir / item.name)
        _write_json(model_dir / MODEL_JSON, meta)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_dir


class TorchPredictor(InvokeMixin):
    """A loaded built-in network: `predict(instances)` → label, confidence, probabilities per row."""

    framework = "pytorch"

    def __init__(self, folder: Path, model: Any, meta: dict[str, Any], preprocessing: dict[str, Any],
                 vocabulary: Vocabulary | None, device: torch.device) -> None:
        self.folder = folder
        self.model = model
        self.meta = meta
        self.signature: dict[str, Any] = meta["signature"]
        self.labels: list[str] = [str(label) for label in self.signature["labels"]]
        self.input_kind: str = self.signature["input_kind"]
        self.preprocessing = preprocessing
        self.vocabulary = vocabulary
        self.device = device

    def prepare(self, inputs: Any) -> torch.Tensor:
        """Decode and check instances; raises InvalidArgument naming the bad instance."""
        if self.input_kind == "text":
            assert self.vocabulary is not None
            ids = self.vocabulary.encode(decode_texts(inputs), int(self.preprocessing["max_length"]))
            return torch.from_numpy(ids)
        low, high = self.preprocessing.get("value_range", [0, 255])
        return torch.from_numpy(decode_images(inputs, self.signature["input_shape"], float(high)))

    def predict_proba(self, inputs: Any, batch_size: int = 256) -> np.ndarray:
        x = self.prepare(inputs)
        parts = []
        with torch.inference_mode():
            for chunk in x.split(batch_size):
                parts.append(self.model(chunk.to(self.device)).float().cpu().numpy())
        return np.concatenate(parts)

    def predict(self, inputs: Any) -> list[dict[str, Any]]:
        return format_predictions(self.predict_proba(inputs), self.labels)


def load_torch_artifact(folder: Path | str, device: str | None = None) -> TorchPredictor:
    """Load a built-in network's artifact written by `save_torch_artifact`."""
    from slipway.frameworks.torch_fit import select_device

    folder = Path(folder)
    meta = read_model_json(folder)
    if meta.get("framework") != "pytorch" or not (folder / "preprocessing.json").exists():
        raise InvalidArgument(
            f"Model folder '{folder}' is not a built-in PyTorch network (framework "
            f"{meta.get('framework')!r}, preprocessing.json {'present' if (folder / 'preprocessing.json').exists() else 'missing'}).",
            {"field": "model", "value": str(folder)},
        )
    dev = select_device(device)
    with quiet_torchscript():
        model = torch.jit.load(str(folder / meta.get("model_file", "model.pt")), map_location=dev)
    model.eval()
    preprocessing = json.loads((folder / "preprocessing.json").read_text())
    vocab_path = folder / preprocessing.get("vocabulary", "vocab.json")
    vocabulary = Vocabulary.load(vocab_path) if preprocessing.get("kind") == "text" else None
    return TorchPredictor(folder, model, meta, preprocessing, vocabulary, dev)
