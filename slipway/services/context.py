"""The platform's wiring: one object that owns the database, the store and every service."""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from slipway import __version__
from slipway.db import Database
from slipway.settings import Settings
from slipway.storage import ArtifactStore, open_store

__all__ = ["Platform"]

if TYPE_CHECKING:
    from slipway.serving.runtime import ServingRuntime
    from slipway.services.datasets import DatasetService
    from slipway.services.endpoints import EndpointService
    from slipway.services.registry import RegistryService


class Platform:
    """Built once by the server (or a test) from settings; services are created on first use."""

    def __init__(self, settings: Settings, db: Database | None = None, store: ArtifactStore | None = None) -> None:
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.db = db or Database(settings.database_url)
        self.store = store or open_store(settings.artifact_url)
        self.started_at = time.time()

    def migrate(self) -> None:
        self.db.migrate()

    @cached_property
    def datasets(self) -> DatasetService:
        from slipway.services.datasets import DatasetService

        return DatasetService(self.db, self.store, self.settings.tmp_dir, self.settings.max_upload_bytes)

    @cached_property
    def registry(self) -> RegistryService:
        from slipway.services.registry import RegistryService

        return RegistryService(self.db, self.store, self.settings.tmp_dir)

    @cached_property
    def endpoints(self) -> EndpointService:
        from slipway.services.endpoints import EndpointService

        return EndpointService(self.db, self.registry, self.settings)

    @cached_property
    def serving(self) -> ServingRuntime:
        """Replica processes and the invocation gateway of this server process."""
        from slipway.serving.runtime import ServingRuntime

        return ServingRuntime(self.settings, self.store)

    @property
    def tmp_dir(self) -> Path:
        return self.settings.tmp_dir

    def counts(self) -> dict[str, int]:
        return {"datasets": self.datasets.count(), "dataset_versions": self.datasets.count_versions()}

    def describe(self) -> dict[str, object]:
        return {
            "version": __version__,
            "database": self.db.safe_url,
            "database_backend": self.db.backend,
            "artifact_store": self.store.describe(),
            "home": str(self.settings.home),
            "pid": os.getpid(),
        }

    def close(self) -> None:
        self.db.dispose()

