"""Artifact store: one small byte-level interface, backends chosen by URL scheme."""

from __future__ import annotations

from slipway.storage.base import ArtifactStore, ObjectInfo, check_key, copy_hashing
from slipway.storage.registry import open_store

__all__ = ["ArtifactStore", "ObjectInfo", "check_key", "copy_hashing", "open_store"]
