"""One module per framework ("flavor"), chosen by the manifest's ``framework`` and imported lazily.

Each flavor module gives ``NAME``, ``EXTRA``, ``load(folder, manifest, *, onnx, device) -> Predictor``,
``save(model, folder, ...) -> Manifest`` where Slipway writes that framework's models, ``export_onnx(folder,
manifest) -> dict`` (the manifest's ``onnx`` field; a reason when it cannot export) and ``DEFAULTS``, the
SageMaker framework container's default handlers for script-mode models (``defaults(manifest, device)``).
Importing a flavor module never imports its framework; its functions call ``require_extra`` first, so a
flavor whose library is not installed raises an ``InvalidArgument`` naming the extra to install, as the
storage backends do (the PyTorch flavor serves a verified ONNX export of a built-in network without torch).

Adding a framework: one module here, one line in ``FLAVORS``, and its row in tests/unit/artifacts.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from slipway.errors import InvalidArgument

__all__ = ["FLAVORS", "flavor", "missing_modules", "require_extra"]

# name -> (module, extra that provides it or None for the core install, modules the extra brings)
FLAVORS: dict[str, tuple[str, str | None, tuple[str, ...]]] = {
    "sklearn": ("slipway.artifacts.flavors.sklearn", None, ("sklearn", "joblib")),
    "xgboost": ("slipway.artifacts.flavors.xgboost", "xgboost", ("xgboost",)),
    "lightgbm": ("slipway.artifacts.flavors.lightgbm", "lightgbm", ("lightgbm",)),
    "pytorch": ("slipway.artifacts.flavors.pytorch", "pytorch", ("torch",)),
    "keras": ("slipway.artifacts.flavors.keras", "keras", ("keras", "torch")),
    "onnx": ("slipway.artifacts.flavors.onnx", "onnx", ("onnxruntime",)),
    "custom": ("slipway.artifacts.flavors.custom", None, ()),
}


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    out = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                out.append(m)
        except (ImportError, ValueError):  # a finder that refuses the module: as good as missing
            out.append(m)
    return out


def require_extra(name: str, what: str | None = None) -> None:
    """Raise InvalidArgument naming the extra to install when flavor ``name``'s library is missing."""
    _, extra, modules = FLAVORS[name]
    missing = missing_modules(modules)
    if missing:
        raise InvalidArgument(
            f"{what or f'A {name} model'} needs the '{extra}' extra ({', '.join(missing)} is not installed on this "
            f"machine): install it with `pip install 'slipway[{extra}]'` and try again.",
            {"field": "framework", "value": name, "expected": f"slipway[{extra}] installed", "missing": missing},
        )


def flavor(name: str) -> ModuleType:
    """The flavor module for framework ``name`` (its functions check that the extra is installed)."""
    if name not in FLAVORS:
        raise InvalidArgument(
            f"Framework {name!r} has no flavor. Expected one of {', '.join(FLAVORS)}.",
            {"field": "framework", "value": name, "expected": list(FLAVORS)},
        )
    return importlib.import_module(FLAVORS[name][0])
