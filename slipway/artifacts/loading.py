"""Any artifact folder -> its flavor: ``load_predictor`` (replicas, tests, bench) and ``export_onnx`` (registry)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from slipway.artifacts.flavors import FLAVORS, flavor, missing_modules
from slipway.artifacts.flavors.base import Predictor
from slipway.artifacts.handlers import handler_file
from slipway.artifacts.manifest import MANIFEST, Manifest, Signature

__all__ = ["export_onnx", "load_predictor", "manifest_of"]


def manifest_of(folder: Path) -> Manifest:
    """The folder's manifest; a bare `.keras` file or a SageMaker PyTorch folder (no manifest) gets one in memory."""
    if (folder / MANIFEST).exists():
        return Manifest.read(folder)
    keras = sorted(folder.glob("*.keras"))
    if keras:
        return Manifest("keras", keras[0].name, signature=Signature("array"))
    model = next((n for n in ("model.pt", "model.pth") if (folder / n).exists()), None)
    return Manifest("pytorch", model, signature=Signature("array"))


def load_predictor(folder: Path | str, device: str | None = None, onnx: bool = True) -> Predictor:
    """The predictor for an artifact folder (or a `.keras` file), through its flavor."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".keras":
        from slipway.artifacts.flavors.keras import load_keras_artifact

        return load_keras_artifact(folder)
    manifest = manifest_of(folder)
    predictor: Predictor = flavor(manifest.framework).load(folder, manifest, onnx=onnx, device=device)
    return predictor


def export_onnx(folder: Path, manifest: Manifest, estimator: Any = None) -> dict[str, Any]:
    """Export and verify through the model's flavor; the manifest's ``onnx`` field. Never raises for a model
    that does not convert: the reason is recorded and the original serves. ``estimator``: a scikit-learn
    model already loaded (the registry's inspector read its signature off it), not loaded again."""
    code = handler_file(folder, manifest)
    if code is not None:
        return {"verified": False,
                "reason": f"custom code ({code.relative_to(folder).as_posix()}) is served as it is, not exported"}
    module, extra, modules = FLAVORS[manifest.framework]
    missing = missing_modules((*modules, "onnxruntime"))
    if missing:
        extras = ",".join(e for e in (extra, "onnx") if e)
        return {"verified": False, "reason": f"{', '.join(missing)} not installed where the server runs "
                f"(pip install 'slipway[{extras}]')"}
    export = getattr(importlib.import_module(module), "export_onnx", None)
    if export is None:
        return {"verified": False, "reason": f"{manifest.framework} models are not exported"}
    info: dict[str, Any] = export(folder, manifest, estimator) if estimator is not None else export(folder, manifest)
    return info
