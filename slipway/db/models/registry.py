"""Tables of the model registry: groups, immutable numbered versions, aliases and their history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from slipway.db.base import Base, UTCDateTime, utcnow


class ModelGroup(Base):
    __tablename__ = "model_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    # Highest version number ever given out; never reused, even after a delete.
    version_counter: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)

    versions: Mapped[list[ModelVersion]] = relationship(back_populates="group", cascade="all, delete-orphan")
    aliases: Mapped[list[ModelAlias]] = relationship(back_populates="group", cascade="all, delete-orphan")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("group_id", "version", name="uq_model_versions_group_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("model_groups.id", ondelete="CASCADE"), nullable=False, index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    framework: Mapped[str] = mapped_column(String(32), nullable=False)
    problem_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # slipway-model.json
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # job or import
    approval: Mapped[str] = mapped_column(String(32), nullable=False)
    approval_reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    approval_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    approval_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="", nullable=False)
    storage_key: Mapped[str] = mapped_column(String(512), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)

    group: Mapped[ModelGroup] = relationship(back_populates="versions")


class ModelAlias(Base):
    __tablename__ = "model_aliases"
    __table_args__ = (UniqueConstraint("group_id", "alias", name="uq_model_aliases_group_alias"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("model_groups.id", ondelete="CASCADE"), nullable=False, index=True)
    alias: Mapped[str] = mapped_column(String(63), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)

    group: Mapped[ModelGroup] = relationship(back_populates="aliases")


class ModelEvent(Base):
    """Append-only history of a group: registrations, approval changes and every alias move."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model: Mapped[str] = mapped_column(String(63), nullable=False, index=True)  # kept after the group is deleted
    kind: Mapped[str] = mapped_column(String(32), nullable=False)  # register | approval | alias | delete
    alias: Mapped[str | None] = mapped_column(String(63), nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    from_value: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_value: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
