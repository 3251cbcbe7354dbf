"""Promotion: a finished training job (or a tuning job's best trial) becomes a model version."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from slipway.errors import Conflict, NotFound
from slipway.schemas import ModelVersionView

__all__ = ["Promotion"]


class Promotion:
    def __init__(self, training: Any, tuning: Any, registry: Any, store: Any, tmp_dir: Path) -> None:
        self.training = training
        self.tuning = tuning
        self.registry = registry
        self.store = store
        self.tmp_dir = tmp_dir

    def register(self, source: str, name: str, user: str = "", description: str = "") -> ModelVersionView:
        """``source`` is a job name, or a tuning job name (its best trial's job is registered)."""
        extra: dict[str, Any] = {}
        try:
            job = self.training.get(source)
        except NotFound:
            try:
                best = self.tuning.best_job(source)
            except NotFound:
                raise NotFound(
                    f"No training job or tuning job named {source!r}. See `slipway jobs list` and `slipway tuning list`.",
                    {"field": "source", "value": source},
                ) from None
            extra["tuning_job"] = source
            job = self.training.get(best)
        if job.status != "Completed" or not job.model_available:
            raise Conflict(
                f"Job {job.name!r} is {job.status}; only a Completed job with a model can be registered.",
                {"field": "source", "value": job.name, "status": job.status},
            )
        extra.update({"datasets": dict(job.inputs), "hyperparameters": dict(job.hyperparameters)})
        if job.algorithm:
            extra["algorithm"] = job.algorithm
        key = self.training.model_key(job.name)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="promote-", dir=self.tmp_dir))
        try:
            tar = work / "model.tar.gz"
            self.store.get_file(key, tar)
            return self.registry.register_from_job(name, job.name, tar, user, description=description,
                                                   extra_lineage=extra)
        finally:
            shutil.rmtree(work, ignore_errors=True)
