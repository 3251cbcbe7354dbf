"""Tables for training jobs and the time series of their metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "algorithm", "script" or "processing"
    algorithm: Mapped[str | None] = mapped_column(String(64), nullable=True)
    framework: Mapped[str] = mapped_column(String(32), default="", nullable=False)
    entry_point: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # channel -> info
    label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    problem_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    validation_split: Mapped[float | None] = mapped_column(Float, nullable=True)
    metric_definitions: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list, nullable=False)
    max_runtime: Mapped[int] = mapped_column(Integer, nullable=False)
    memory_limit_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cpus: Mapped[float | None] = mapped_column(Float, nullable=True)  # the scheduler's request (None: 1)
    gpus: Mapped[float | None] = mapped_column(Float, nullable=True)
    secrets: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)  # names only, never values
    # Processing jobs: output channel -> {"dataset": name, "ref": "name:N" once pushed}; the script's arguments.
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    arguments: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    secondary_status: Mapped[str] = mapped_column(String(32), nullable=False)
    transitions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, nullable=False)
    failure_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    final_metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict, nullable=False)
    handle: Mapped[str | None] = mapped_column(String(255), nullable=True)  # the executor's id of the process
    log_offset: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    metrics_offset: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    model_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    output_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stop_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)


class JobMetric(Base):
    __tablename__ = "job_metrics"
    __table_args__ = (Index("ix_job_metrics_job_name", "job_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timestamp: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
