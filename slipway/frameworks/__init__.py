"""Model artifacts per framework: the shared contract (artifact.py), save/load/train/serve helpers.

Modules that import torch or keras are imported only by the code that needs them, so the core
install (no deep-learning extras) can still list the built-ins.
"""

from __future__ import annotations

from slipway.frameworks.artifact import (
    FRAMEWORKS,
    INPUT_KINDS,
    MANIFEST,
    PROBLEM_TYPES,
    pack_artifact,
    read_manifest,
    unpack_artifact,
    validate_manifest,
)

__all__ = [
    "FRAMEWORKS",
    "INPUT_KINDS",
    "MANIFEST",
    "PROBLEM_TYPES",
    "pack_artifact",
    "read_manifest",
    "unpack_artifact",
    "validate_manifest",
]
