"""Training baselines of model versions: statistics.json / constraints.json (SageMaker Model Monitor's shapes)
of a dataset version, stored in the artifact store next to the model and recorded in ``model_baselines``.

A model registered from a job gets one from its training channel by the ``baselines`` controller (off the
registration request); ``slipway models baseline REF [--from-dataset D:N]`` (re)computes one from any
dataset version. The pass is bounded: at most ``MAX_ROWS`` rows, a uniform sample of a larger dataset.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.db import Database
from slipway.db.base import utcnow
from slipway.db.models import ModelBaseline, ModelGroup, ModelVersion
from slipway.errors import InvalidArgument, NotFound
from slipway.schemas.monitors import BaselineView
from slipway.storage import ArtifactStore

__all__ = ["MAX_ROWS", "BaselineService"]

MAX_ROWS = 100_000  # rows a baseline is computed on at most (a uniform sample beyond)
TABULAR = ("csv", "parquet", "jsonl")
PREFIX = "baselines"  # baselines/<model>/<version>/statistics.json, constraints.json


def _keys(prefix: str) -> tuple[str, str]:
    return (f"{prefix}/statistics.json", f"{prefix}/constraints.json") if prefix else ("", "")


class BaselineService:
    def __init__(self, db: Database, store: ArtifactStore, tmp_dir: Path, registry: Any, datasets: Any) -> None:
        self.db = db
        self.store = store
        self.tmp_dir = tmp_dir
        self.registry = registry
        self.datasets = datasets

    # -- reading ---------------------------------------------------------------------------------------

    def _view(self, b: ModelBaseline, full: bool = False) -> BaselineView:
        stats_key, cons_key = _keys(b.storage_prefix)
        view = BaselineView(model=f"{b.model}:{b.version}", dataset=b.dataset, status=b.status, reason=b.reason,
                            rows=b.rows, total_rows=b.total_rows, features=b.features, statistics_key=stats_key,
                            constraints_key=cons_key, created_at=b.created_at, updated_at=b.updated_at)
        if full and b.status == "Ready":
            view.statistics, view.constraints = self.documents_at(b.storage_prefix)
        return view

    def documents_at(self, prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
        stats_key, cons_key = _keys(prefix)
        return orjson.loads(self.store.read_bytes(stats_key)), orjson.loads(self.store.read_bytes(cons_key))

    def find(self, ref: str) -> BaselineView | None:
        """The baseline of a model version (any reference form), or None."""
        name, _, number = self.registry.resolve(ref).partition(":")
        with self.db.session() as s:
            b = s.execute(select(ModelBaseline).where(ModelBaseline.model == name,
                                                      ModelBaseline.version == int(number))).scalar_one_or_none()
            return None if b is None else self._view(b)

    def get(self, ref: str) -> BaselineView:
        resolved = self.registry.resolve(ref)
        name, _, number = resolved.partition(":")
        with self.db.session() as s:
            b = s.execute(select(ModelBaseline).where(ModelBaseline.model == name,
                                                      ModelBaseline.version == int(number))).scalar_one_or_none()
            if b is None:
                raise NotFound(f"Model version {resolved} has no baseline. Compute one: slipway models baseline "
                               f"{resolved} --from-dataset DATASET:N", {"field": "model", "value": resolved})
            return self._view(b, full=True)

    def documents(self, ref: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(name:N, statistics, constraints) of a Ready baseline; a 400 that says how to make one otherwise."""
        resolved = self.registry.resolve(ref)
        b = self.find(resolved)
        if b is None or b.status != "Ready":
            why = "has no baseline" if b is None else f"has no usable baseline ({b.status}: {b.reason or 'computing'})"
            raise InvalidArgument(
                f"Model version {resolved} {why}. Compute one from its training data: slipway models baseline "
                f"{resolved} --from-dataset DATASET:N", {"field": "baseline", "value": resolved})
        stats, cons = self.documents_at(b.statistics_key.rsplit("/", 1)[0])
        return resolved, stats, cons

    # -- computing -------------------------------------------------------------------------------------

    def compute(self, ref: str, dataset: str | None = None) -> BaselineView:
        """(Re)compute the baseline of model version ``ref`` from ``dataset`` (default: its training data)."""
        model = self.registry.get(ref)
        if dataset is None:
            channels = (model.lineage or {}).get("datasets") or {}
            dataset = channels.get("train") or next(iter(channels.values()), None)
            if dataset is None:
                raise InvalidArgument(
                    f"Model version {model.ref} does not name its training data (lineage.datasets). Give the "
                    f"dataset: slipway models baseline {model.ref} --from-dataset DATASET:N",
                    {"field": "dataset", "value": None})
        ds = self.datasets.get(dataset)
        if ds.format not in TABULAR:
            raise InvalidArgument(
                f"Dataset version {ds.ref} is {ds.format}. Expected a tabular "
                f"dataset ({', '.join(TABULAR)}) to compute a baseline from.",
                {"field": "dataset", "value": dataset, "expected": list(TABULAR)})
        dataset_ref = f"{ds.name}:{ds.version}"
        features = [i["name"] for i in (model.signature or {}).get("inputs") or [] if i.get("name")]
        columns, total = self._read(dataset_ref, ds.format, features, ds.label)
        from slipway.monitoring.drift import compute_baseline

        statistics, constraints = compute_baseline(columns, total)
        name, version = model.name, model.version
        prefix = f"{PREFIX}/{name}/{version}"
        stats_key, cons_key = _keys(prefix)
        self.store.put_bytes(stats_key, orjson.dumps(statistics, option=orjson.OPT_INDENT_2))
        self.store.put_bytes(cons_key, orjson.dumps(constraints, option=orjson.OPT_INDENT_2))
        rows = statistics["dataset"]["item_count"]
        return self.db.run(lambda s: self._save(s, name, version, dataset_ref, "Ready", "", rows, total,
                                                len(statistics["features"]), prefix))

    def _save(self, s: Session, name: str, version: int, dataset: str, status: str, reason: str, rows: int,
              total: int, features: int, prefix: str) -> BaselineView:
        b = s.execute(select(ModelBaseline).where(ModelBaseline.model == name, ModelBaseline.version == version)
                      ).scalar_one_or_none()
        if b is None:
            b = ModelBaseline(model=name, version=version, created_at=utcnow())
            s.add(b)
        b.dataset, b.status, b.reason, b.rows, b.total_rows, b.features = dataset, status, reason, rows, total, features
        b.storage_prefix = prefix
        b.updated_at = utcnow()
        s.flush()
        return self._view(b)

    def _read(self, ref: str, fmt: str, features: list[str], label: str | None
              ) -> tuple[dict[str, list[Any]], int]:
        """Column name -> values of the dataset version (the model's feature columns when it names them),
        at most MAX_ROWS rows: a uniform sample of a larger one. Returns (columns, total rows)."""
        import numpy as np
        import pandas as pd

        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="baseline-", dir=self.tmp_dir))
        try:
            path = work / f"data.{fmt}"
            _, chunks = self.datasets.open_content(ref)
            with path.open("wb") as f:
                for chunk in chunks:
                    f.write(chunk)
            rng = np.random.default_rng(0)
            if fmt == "parquet":
                parts = [pd.read_parquet(path)]
            else:
                reader = pd.read_csv(path, chunksize=50_000) if fmt == "csv" else \
                    pd.read_json(path, lines=True, chunksize=50_000)
                parts = list(reader)
            total = sum(len(p) for p in parts)
            if total > MAX_ROWS:
                keep = MAX_ROWS / total
                parts = [p[rng.random(len(p)) < keep] for p in parts]
            frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        finally:
            shutil.rmtree(work, ignore_errors=True)
        wanted = [c for c in features if c in frame.columns] if features else \
            [c for c in frame.columns if c != label]
        if not wanted:
            raise InvalidArgument(
                f"Dataset version {ref} has none of the model's feature columns ({', '.join(features[:5])}…). "
                "Expected the data the model was trained on.", {"field": "dataset", "value": ref})
        columns = {str(c): frame[c].where(frame[c].notna(), None).tolist() for c in wanted}
        return columns, total

    # -- the controller's work ---------------------------------------------------------------------------

    def missing(self, limit: int = 20) -> list[str]:
        """Model versions registered from a job with training data and no baseline row yet (name:N)."""
        with self.db.session() as s:
            have = {(m, v) for m, v in s.execute(select(ModelBaseline.model, ModelBaseline.version))}
            rows = s.execute(select(ModelGroup.name, ModelVersion.version, ModelVersion.source, ModelVersion.manifest)
                             .join(ModelVersion, ModelVersion.group_id == ModelGroup.id)
                             .order_by(ModelVersion.id.desc()).limit(500)).all()
        out = []
        for name, version, source, manifest in rows:
            if (name, version) in have or (source or {}).get("kind") != "job":
                continue
            if ((manifest or {}).get("lineage") or {}).get("datasets"):
                out.append(f"{name}:{version}")
        return out[:limit]

    def compute_pending(self) -> int:
        """Compute what ``missing`` lists; a failure is recorded (status Failed) and not retried."""
        done = 0
        for ref in self.missing():
            try:
                self.compute(ref)
            except Exception as exc:  # recorded on the version: `models show` says why
                name, _, number = ref.partition(":")
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                self.db.run(lambda s, n=name, v=int(number), m=message: self._save(s, n, v, "", "Failed", m[:2000],
                                                                                   0, 0, 0, ""))
            done += 1
        return done

    def delete_for(self, ref: str) -> None:
        name, _, number = ref.partition(":")

        def _do(s: Session) -> str | None:
            b = s.execute(select(ModelBaseline).where(ModelBaseline.model == name,
                                                      ModelBaseline.version == int(number))).scalar_one_or_none()
            if b is None:
                return None
            s.delete(b)
            return b.storage_prefix

        prefix = self.db.run(_do)
        for key in _keys(prefix or ""):
            if key:
                self.store.delete(key)
