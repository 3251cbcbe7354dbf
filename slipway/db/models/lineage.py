"""Who uses what: one row per edge (a job reads a dataset version, a model came from a job).

Deleting the target of an edge needs force; lineage queries walk these edges.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class Reference(Base):
    __tablename__ = "references"
    __table_args__ = (Index("ix_references_target", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_kind: Mapped[str] = mapped_column(String(32), nullable=False)  # e.g. "job"
    source_id: Mapped[str] = mapped_column(String(255), nullable=False)  # e.g. "cancer-lr"
    target_kind: Mapped[str] = mapped_column(String(32), nullable=False)  # e.g. "dataset_version"
    target_id: Mapped[str] = mapped_column(String(255), nullable=False)  # e.g. "cancer:1"
    role: Mapped[str] = mapped_column(String(64), default="", nullable=False)  # e.g. channel "train"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
