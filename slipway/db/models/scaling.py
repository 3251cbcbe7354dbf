"""What the autoscaler decided, with its inputs, and the measured cold starts of replicas (kept bounded)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class ScalingEvent(Base):
    """One row per decision that changed (or held back) an endpoint's replica count, and per measured cold start.

    ``kind``: ``decision`` (replicas -> desired, why, the inputs) or ``cold_start`` (``model`` took ``seconds``
    from spawn to its first /ping 200). The autoscaler keeps the newest few hundred per endpoint.
    """

    __tablename__ = "endpoint_scaling_events"
    __table_args__ = (Index("ix_endpoint_scaling_events_endpoint_id", "endpoint", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint: Mapped[str] = mapped_column(String(63), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # decision | cold_start
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    replicas: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    desired: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    model: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
