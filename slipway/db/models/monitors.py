"""Training baselines of model versions, drift monitors with their run history, and alarms with theirs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class ModelBaseline(Base):
    """statistics.json / constraints.json of a model version's training data (in the artifact store)."""

    __tablename__ = "model_baselines"
    __table_args__ = (UniqueConstraint("model", "version", name="uq_model_baselines_model_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(63), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    dataset: Mapped[str] = mapped_column(String(140), nullable=False)  # the dataset version it was computed from
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # Pending | Ready | Failed
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    rows: Mapped[int] = mapped_column(Integer, default=0, nullable=False)  # rows read (a sample when large)
    total_rows: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    features: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    storage_prefix: Mapped[str] = mapped_column(String(512), default="", nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class Monitor(Base):
    __tablename__ = "monitors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    endpoint: Mapped[str] = mapped_column(String(63), nullable=False)
    baseline: Mapped[str] = mapped_column(String(140), nullable=False)  # model version ref, e.g. cancer:1
    every_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    window_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    next_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)


class MonitorRun(Base):
    __tablename__ = "monitor_runs"
    __table_args__ = (Index("ix_monitor_runs_monitor_started", "monitor", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    monitor: Mapped[str] = mapped_column(String(63), nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # Completed | NoData | Failed
    message: Mapped[str] = mapped_column(Text, default="", nullable=False)
    rows: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    drifted: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)  # feature names
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # drift.compare's answer


class Alarm(Base):
    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    metric: Mapped[str] = mapped_column(String(255), nullable=False)
    statistic: Mapped[str] = mapped_column(String(16), nullable=False)
    comparison: Mapped[str] = mapped_column(String(8), nullable=False)  # above | below
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    datapoints: Mapped[int] = mapped_column(Integer, nullable=False)  # M of
    evaluation_periods: Mapped[int] = mapped_column(Integer, nullable=False)  # N
    period_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    missing: Mapped[str] = mapped_column(String(16), nullable=False)
    actions: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)  # [{"kind", "target"}]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    state: Mapped[str] = mapped_column(String(24), nullable=False)
    state_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    state_since: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)


class AlarmEvent(Base):
    """A state change of an alarm and what its actions did."""

    __tablename__ = "alarm_history"
    __table_args__ = (Index("ix_alarm_history_alarm_at", "alarm", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm: Mapped[str] = mapped_column(String(63), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    from_state: Mapped[str] = mapped_column(String(24), nullable=False)
    to_state: Mapped[str] = mapped_column(String(24), nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    actions: Mapped[list[Any]] = mapped_column(JSON, default=list, nullable=False)  # [{"kind","target","ok","detail"}]


class AlarmNotification(Base):
    """A webhook delivery of an alarm's state change, sent by the ``alarm-notifications`` controller (never by the
    evaluation itself), retried with backoff; its outcome is written back into the history entry's action."""

    __tablename__ = "alarm_notifications"
    __table_args__ = (Index("ix_alarm_notifications_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm: Mapped[str] = mapped_column(String(63), nullable=False)
    event_id: Mapped[int] = mapped_column(Integer, nullable=False)  # alarm_history.id
    action_index: Mapped[int] = mapped_column(Integer, nullable=False)  # which of the event's actions
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # a kind in alarms.QUEUED (webhook)
    target: Mapped[str] = mapped_column(Text, default="", nullable=False)  # the URL
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # Pending | Delivered | Failed
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, nullable=False)
    detail: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
