"""SageMaker resources that have no Slipway counterpart of their own, or carry SageMaker-only fields.

One row per SageMaker resource created through the SageMaker API: a training job's request (its
OutputDataConfig, RoleArn, ResourceConfig… that Slipway's job does not keep), a Model, an
EndpointConfig, an Endpoint's config name, and the tags of any of them. ``target`` names the Slipway
object the resource maps onto (a job name, a model version ``name:N``, an endpoint name), if any.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from slipway.db.base import Base, UTCDateTime, utcnow


class SageMakerResource(Base):
    __tablename__ = "sagemaker_resources"
    __table_args__ = (UniqueConstraint("kind", "name", name="uq_sagemaker_resources_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)  # the ARN's resource type, e.g. "training-job"
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    target: Mapped[str | None] = mapped_column(String(255), nullable=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)  # the validated request (and extras)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str] = mapped_column(String(128), default="", nullable=False)
