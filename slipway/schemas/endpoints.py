"""Endpoint shapes on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class VariantSpec(BaseModel):
    name: str = Field(default="primary", description="Variant name; the response header X-Slipway-Variant names it.")
    model: str = Field(description="name:N, name:latest or name@alias; resolved to name:N when deployed.")
    weight: float = Field(default=1.0, ge=0, description="Share of traffic, relative to the other variants.")
    replicas: int = Field(default=1, ge=1, le=64)


class EndpointRequest(BaseModel):
    variants: list[VariantSpec] = Field(min_length=1, max_length=16)


class ReplicaView(BaseModel):
    replica_id: str
    variant: str
    model: str
    pid: int
    port: int
    url: str
    status: str
    started_at: dt.datetime


class DeploymentView(BaseModel):
    number: int
    kind: str
    status: str
    reason: str
    spec: dict[str, Any]
    created_at: dt.datetime
    created_by: str
    finished_at: dt.datetime | None


class EndpointView(BaseModel):
    name: str
    status: str
    reason: str
    url: str
    desired: dict[str, Any]
    live: dict[str, Any] | None
    replicas: list[ReplicaView] = Field(default_factory=list)
    deployments: list[DeploymentView] = Field(default_factory=list)
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
