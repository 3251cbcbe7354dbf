"""Model artifacts of the built-in networks: TorchScript `model.pt` plus what preprocessing needs.

Layout (see docs/developing.md for `slipway-model.json`):

    slipway-model.json   framework "pytorch", model_file "model.pt", signature, metrics, lineage
    model.pt             TorchScript: raw pixels [N, H, W, C] or token ids [N, L] → probabilities
    preprocessing.json   image: input shape, value range; text: tokenizer, max length
    vocab.json           text models only
    evaluation.json      metrics per class and the confusion matrix
    samples.npy          up to 64 training inputs as model.pt takes them, to verify the ONNX export on
    model.onnx           added at registration when the export is verified (torch_onnx)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slipway.artifacts.flavors.builtin import BuiltinPredictor, read_builtin
from slipway.artifacts.manifest import Manifest, Signature, now
from slipway.artifacts.preprocessing import Vocabulary

__all__ = ["MAX_SAMPLE_BYTES", "TorchPredictor", "load_torch_artifact", "quiet_torchscript", "save_torch_artifact",
           "select_device"]

MAX_SAMPLE_BYTES = 1 << 20  # samples.npy: 64 inputs at most, fewer when the images are large


@contextlib.contextmanager
def quiet_torchscript() -> Iterator[None]:
    """TorchScript is deprecated from torch 2.9 on but is still SageMaker's `model.pt` format."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        yield


def select_device(preference: str | None = None, env: Mapping[str, str] | None = None) -> torch.device:
    """'cuda' when a GPU is present and not ruled out, else 'cpu'.

    `preference` ("cpu", "cuda", "cuda:1") wins; otherwise SM_NUM_GPUS=0 (SageMaker's
    variable, set by the job runner) forces the CPU.
    """
    if preference:
        return torch.device(preference)
    env = os.environ if env is None else env
    if env.get("SM_NUM_GPUS", "").strip() == "0":
        return torch.device("cpu")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def save_torch_artifact(
    model_dir: Path | str,
    model: torch.nn.Module,
    samples: torch.Tensor | np.ndarray,
    *,
    problem_type: str,
    signature: Mapping[str, Any],
    preprocessing: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    lineage: Mapping[str, Any] | None = None,
    evaluation: Mapping[str, Any] | None = None,
    vocabulary: Vocabulary | None = None,
) -> Path:
    """Write the artifact into `model_dir` all or nothing; `slipway-model.json` is written last.

    `samples` are training inputs as `model` takes them; up to 64 spread over them are kept in
    samples.npy, for the registry to verify the ONNX export on.
    """
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
        _save_samples(staging / "samples.npy", samples)
        manifest = Manifest(framework="pytorch", model_file="model.pt", problem_type=problem_type,
                            signature=Signature.from_dict(dict(signature)), metrics=dict(metrics or {}),
                            lineage=dict(lineage or {}), created_at=now())
        for item in sorted(staging.iterdir()):
            os.replace(item, model_dir / item.name)
        manifest.write(model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_dir


def _save_samples(path: Path, samples: torch.Tensor | np.ndarray, n: int = 64) -> None:
    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    if not len(x):
        return
    per_input = max(1, x[:1].nbytes)
    k = max(1, min(n, len(x), MAX_SAMPLE_BYTES // per_input))
    np.save(path, np.ascontiguousarray(x[np.linspace(0, len(x) - 1, k).astype(int)]), allow_pickle=False)


class TorchPredictor(BuiltinPredictor):
    """A built-in network loaded in PyTorch: `predict(instances)` → label, confidence, probabilities per row."""

    def __init__(self, folder: Path, model: Any, meta: dict[str, Any], preprocessing: dict[str, Any],
                 vocabulary: Vocabulary | None, device: torch.device) -> None:
        super().__init__(folder, meta, preprocessing, vocabulary)
        self.model = model
        self.device = device

    def prepare(self, inputs: Any) -> torch.Tensor:
        """Decode and check instances; raises InvalidArgument naming the bad instance."""
        return torch.from_numpy(self.prepare_array(inputs))

    def forward(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out: np.ndarray = self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()
        return out


def load_torch_artifact(folder: Path | str, device: str | None = None) -> TorchPredictor:
    """Load a built-in network's artifact written by `save_torch_artifact`."""
    folder = Path(folder)
    meta, preprocessing, vocabulary = read_builtin(folder)
    dev = select_device(device)
    if dev.type == "cuda":
        # Serve in full float32: with TF32 (PyTorch's default for cuDNN convolutions) a GPU replica's
        # probabilities differed from a CPU replica's by 1.4e-4 (CNN) and 1.9e-4 (LSTM) on an H200;
        # without it by 4e-7 and 2e-6 (bench/deep_learning_gpu.py). Training keeps TF32.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    with quiet_torchscript():
        model = torch.jit.load(str(folder / meta.get("model_file", "model.pt")), map_location=dev)
    model.eval()
    return TorchPredictor(folder, model, meta, preprocessing, vocabulary, dev)
