"""Per-minute rollups of endpoint invocations (written by the metrics flusher, kept for a retention)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base


class EndpointMetric(Base):
    __tablename__ = "endpoint_metrics"
    __table_args__ = (
        UniqueConstraint("endpoint", "variant", "minute", name="uq_endpoint_metrics_endpoint_variant_minute"),
        Index("ix_endpoint_metrics_minute", "minute"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(63), nullable=False)
    variant: Mapped[str] = mapped_column(String(63), nullable=False)  # "" when no variant was picked (e.g. 503)
    minute: Mapped[int] = mapped_column(BigInteger, nullable=False)  # Unix time // 60 (UTC)
    requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    status_2xx: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)  # 1xx-3xx count here
    status_4xx: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    status_5xx: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    latency_sum_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    latency_max_ms: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    buckets: Mapped[list[Any]] = mapped_column(JSON, nullable=False)  # counts per slipway.monitoring.BUCKETS_MS


class EndpointCapture(Base):
    """Request capture setting of an endpoint; no row means the default (100 %, up to the rate cap)."""

    __tablename__ = "endpoint_capture"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    percent: Mapped[float] = mapped_column(Float, nullable=False)
