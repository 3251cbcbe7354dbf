"""Every table, one module per noun; importing this package registers them all."""

from __future__ import annotations

from slipway.db.models.datasets import Dataset, DatasetVersion
from slipway.db.models.endpoints import Deployment, Endpoint, Replica
from slipway.db.models.lineage import Reference
from slipway.db.models.registry import ModelAlias, ModelEvent, ModelGroup, ModelVersion

__all__ = [
    "Dataset",
    "DatasetVersion",
    "Deployment",
    "Endpoint",
    "ModelAlias",
    "ModelEvent",
    "ModelGroup",
    "ModelVersion",
    "Reference",
    "Replica",
]
