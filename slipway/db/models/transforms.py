"""Batch transform jobs: a model version's predictions over a whole dataset version, as a new version."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class TransformJob(Base):
    __tablename__ = "transform_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)  # resolved: cancer:1
    data: Mapped[str] = mapped_column(String(255), nullable=False)  # resolved dataset version: cancer-test:1
    channel: Mapped[str] = mapped_column(String(63), nullable=False, default="test")
    output: Mapped[str] = mapped_column(String(63), nullable=False)  # the dataset the predictions become a version of
    # SageMaker's parameters: SplitType, BatchStrategy (MaxRecords = batch), MaxPayloadInMB,
    # MaxConcurrentTransforms (parallel), AssembleWith (Line), DataProcessing.JoinSource (join)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # Pending|InProgress|Completed|Failed|Stopping|Stopped
    failure_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    failed_rows: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)  # input rows (0-based) of the failing batch
    rows_total: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    rows_done: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    batches_total: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    batches_done: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    retries: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    output_version: Mapped[str | None] = mapped_column(String(255), nullable=True)  # preds:1 once Completed
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
