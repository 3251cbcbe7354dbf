"""Model artifacts per framework: the shared contract (artifact.py) and save/inspect helpers."""

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
