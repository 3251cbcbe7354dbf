"""Tables of real-time endpoints: desired state, every deployment, and the replicas that serve."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from slipway.db.base import Base, UTCDateTime, utcnow


class Endpoint(Base):
    __tablename__ = "endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True, nullable=False)
    # Creating | InService | Updating | Recovering | Failed | Deleting
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    desired: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)  # {"variants": [...]}
    live: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # what serves now
    generation: Mapped[int] = mapped_column(Integer, default=1, nullable=False)  # bumped by every change
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", order_by="Deployment.number"
    )
    replicas: Mapped[list[Replica]] = relationship(back_populates="endpoint", cascade="all, delete-orphan")


class Deployment(Base):
    __tablename__ = "endpoint_deployments"
    __table_args__ = (UniqueConstraint("endpoint_id", "number", name="uq_endpoint_deployments_endpoint_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False, index=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    generation: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # create | update | rollback | heal
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # InProgress | Succeeded | Failed | Superseded
    reason: Mapped[str] = mapped_column(Text, default="", nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    endpoint: Mapped[Endpoint] = relationship(back_populates="deployments")


class Replica(Base):
    """A replica process as the controller last saw it; rewritten on every change.

    Replicas outlive a crash of the server: the next server finds them here (pid and start time, ports,
    model folder, options) and adopts them.
    """

    __tablename__ = "endpoint_replicas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=False, index=True)
    replica_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    variant: Mapped[str] = mapped_column(String(63), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    port: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # Starting | Ready | Draining
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    proc_start: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")  # guards pid reuse
    uds: Mapped[str | None] = mapped_column(Text, nullable=True)  # its Unix socket, when it has one
    artifact_dir: Mapped[str] = mapped_column(Text, nullable=False, server_default="")  # the private model copy
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)  # ServingOptions it runs with
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)  # its node (Ray); None: the server's machine

    endpoint: Mapped[Endpoint] = relationship(back_populates="replicas")
