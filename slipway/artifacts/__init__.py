"""Model artifacts: the contract between training, registry and serving, with one flavor per framework.

    manifest.py      Manifest / Signature: slipway-model.json as one typed object (standard library only)
    archive.py       the deterministic tar.gz on the wire, and a safe unpack
    labels.py        class probabilities -> label, confidence, probabilities (the one place)
    handlers.py      SageMaker handlers: the one loader (code/inference.py or the entry point) and predictor
    preprocessing.py pixels and token ids for the built-in networks (training and serving alike)
    onnx_runtime.py  the ONNX fast path: sessions, and verifying a tabular export
    loading.py       any folder -> its flavor's predictor; ONNX export through the flavor
    flavors/         sklearn, xgboost, lightgbm, pytorch, keras, onnx, custom: save, load, export_onnx, defaults

Modules that import a framework (torch, keras, xgboost…) are imported only by the flavor that needs them,
so the core install can still read, check and pack artifacts.
"""

from __future__ import annotations

from slipway.artifacts.archive import is_tar, pack_artifact, unpack_artifact
from slipway.artifacts.manifest import (
    CLASSIFIERS,
    FRAMEWORKS,
    INPUT_KINDS,
    MANIFEST,
    PROBLEM_TYPES,
    Manifest,
    Signature,
    read_manifest,
)

__all__ = [
    "CLASSIFIERS",
    "FRAMEWORKS",
    "INPUT_KINDS",
    "MANIFEST",
    "PROBLEM_TYPES",
    "Manifest",
    "Signature",
    "is_tar",
    "pack_artifact",
    "read_manifest",
    "unpack_artifact",
]
