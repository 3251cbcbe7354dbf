"""Tuning jobs. Their trials live in Optuna's tables (same database) and are training jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class TuningJob(Base):
    __tablename__ = "tuning_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    strategy: Mapped[str] = mapped_column(String(16), nullable=False)
    objective: Mapped[str] = mapped_column(String(255), nullable=False)
    maximize: Mapped[bool] = mapped_column(Boolean, nullable=False)
    space: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    max_trials: Mapped[int] = mapped_column(Integer, nullable=False)
    max_parallel: Mapped[int] = mapped_column(Integer, nullable=False)
    max_runtime: Mapped[int | None] = mapped_column(Integer, nullable=True)
    early_stopping: Mapped[str] = mapped_column(String(16), nullable=False)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    warm_start_from: Mapped[str | None] = mapped_column(String(63), nullable=True)
    # The training job every trial is made from (a CreateJobRequest without the tuned values).
    template: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    best_trial: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    best_objective: Mapped[float | None] = mapped_column(Float, nullable=True)
    counters: Mapped[dict[str, int]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
