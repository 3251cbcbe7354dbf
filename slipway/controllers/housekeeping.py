"""Removes upload leftovers (from a crash or a dropped connection) from the temp folder."""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller

if TYPE_CHECKING:
    from slipway.services import Platform


class TmpCleaner(Controller):
    name = "tmp-cleaner"
    interval = 60.0
    singleton = False  # each server cleans its own temp folder
    max_age = 6 * 3600.0  # no upload legitimately takes longer

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def start(self) -> None:
        # Nothing else runs on this home while the server holds its lock: everything is stale.
        self._clean(0.0)
        # The store is shared by every server on a Postgres database: another may be writing now.
        self.platform.store.cleanup_partial(0.0 if self.platform.db.backend == "sqlite" else self.max_age)

    def reconcile(self) -> None:
        self._clean(self.max_age)
        self.platform.store.cleanup_partial(self.max_age)

    def _clean(self, max_age: float) -> None:
        tmp = self.platform.tmp_dir
        if not tmp.is_dir():
            return
        now = time.time()
        for entry in tmp.iterdir():
            try:
                if now - entry.stat().st_mtime < max_age:
                    continue
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            except FileNotFoundError:
                continue


class AuditCountFlusher(Controller):
    """Writes the in-memory counts of counted calls (inference) to the audit tables."""

    name = "audit-counts"
    interval = 10.0
    singleton = False  # the counts are in this server's memory

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def reconcile(self) -> None:
        self.platform.audit.flush()

    def stop(self) -> None:
        self.platform.audit.flush()


class MetricsFlusher(Controller):
    """Writes the in-memory invocation metrics as per-minute rollups and deletes those past retention."""

    name = "metrics"
    singleton = False  # each server flushes the counts in its own memory
    purge_every = 3600.0

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.interval = platform.settings.metrics_flush_interval
        self._purged = 0.0

    def reconcile(self) -> None:
        self.platform.metrics.flush()
        now = time.time()
        if now - self._purged >= self.purge_every:
            self.platform.metrics.purge(now)
            self._purged = now

    def stop(self) -> None:
        self.platform.metrics.flush()


class CaptureWriter(Controller):
    """Writes sampled requests and answers from the capture queue to the artifact store."""

    name = "capture"
    singleton = False  # each server writes its own capture queue
    interval = 1.0

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def start(self) -> None:
        self.platform.capture.load()

    def reconcile(self) -> None:
        self.platform.capture.flush()

    def stop(self) -> None:
        self.platform.capture.flush()
