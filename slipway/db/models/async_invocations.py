"""Asynchronous invocations of endpoints: a durable queue (the bodies live encrypted in the artifact store)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class AsyncInvocation(Base):
    """One request to an endpoint, answered later by the async-invocation controller.

    ``status``: queued -> running -> succeeded | failed. A request left ``running`` by a server that
    stopped is queued again at the next start. The callback is delivered apart (``callback_status``
    pending -> delivered | failed), retried with backoff until ``callback_next_at``.
    """

    __tablename__ = "async_invocations"
    __table_args__ = (Index("ix_async_invocations_endpoint_status", "endpoint", "status"),
                      Index("ix_async_invocations_status_id", "status", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invocation_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    endpoint: Mapped[str] = mapped_column(String(63), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # queued | running | succeeded | failed
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    accept: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    input_key: Mapped[str] = mapped_column(Text, nullable=False)
    input_bytes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    output_content_type: Mapped[str | None] = mapped_column(String(255), nullable=True)
    variant: Mapped[str] = mapped_column(String(63), nullable=False, default="")
    model: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the replica's answer
    error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    retry_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)  # not claimed before
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    callback_status: Mapped[str | None] = mapped_column(String(16), nullable=True)  # pending | delivered | failed
    callback_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    callback_error: Mapped[str] = mapped_column(Text, nullable=False, default="")
    callback_next_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
