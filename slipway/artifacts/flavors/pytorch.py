"""The PyTorch flavor: built-in networks (TorchScript + preprocessing) and SageMaker-style user models.

Imports torch only when it is needed: a built-in network whose ONNX export the registry verified
serves on ONNX Runtime alone, so that replica never loads PyTorch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slipway.artifacts.flavors import require_extra
from slipway.artifacts.flavors.base import Predictor
from slipway.artifacts.handlers import Defaults
from slipway.artifacts.manifest import Manifest

__all__ = ["EXTRA", "NAME", "defaults", "export_onnx", "load", "save"]

NAME = "pytorch"
EXTRA = "pytorch"


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> Predictor:
    """A built-in network (on its verified ONNX export when there is one and only the CPU is asked for), or a
    user's TorchScript model / model_fn behind SageMaker's PyTorch container handlers."""
    folder = Path(folder)
    onnx = onnx and device in (None, "cpu")
    builtin = (folder / "preprocessing.json").exists()
    if builtin and onnx:
        from slipway.artifacts.flavors.builtin import load_onnx_builtin

        fast = load_onnx_builtin(folder)
        if fast is not None:
            return fast
    require_extra(NAME, "Serving a PyTorch model")
    if builtin:
        from slipway.artifacts.flavors.torch_builtin import load_torch_artifact

        return load_torch_artifact(folder, device=device)
    from slipway.artifacts.flavors.torch_handlers import load_handlers_predictor

    return load_handlers_predictor(folder, manifest, device=device, onnx=onnx)


def save(model: Any, folder: Path | str, samples: Any, **kwargs: Any) -> Manifest:
    """A built-in network: TorchScript model.pt, preprocessing.json, samples (see torch_builtin)."""
    require_extra(NAME, "Saving a PyTorch model")
    from slipway.artifacts.flavors.torch_builtin import save_torch_artifact

    return Manifest.read(save_torch_artifact(folder, model, samples, **kwargs))


def export_onnx(folder: Path, manifest: Manifest) -> dict[str, Any]:
    from slipway.artifacts.flavors.torch_onnx import export_torch_onnx

    return export_torch_onnx(folder, manifest.to_dict())


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    require_extra(NAME, "A PyTorch model")
    from slipway.artifacts.flavors import torch_handlers

    return torch_handlers.defaults(manifest, device)
