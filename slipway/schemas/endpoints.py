"""Endpoint shapes on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from slipway.names import MODEL_REF_SCHEMA, NAME_SCHEMA


class ServingOptions(BaseModel):
    """How each replica of a variant serves (docs/serving.md, Performance)."""

    max_batch_size: int = Field(default=64, ge=1, le=65536,
                                description="Rows per model call at most when batching; 1 turns batching off.")
    max_batch_wait_ms: float = Field(default=0.0, ge=0, le=1000,
                                     description="Wait this long for a fuller batch; 0 batches only what arrives "
                                                 "while the model is busy.")
    max_queue: int = Field(default=1024, ge=1, le=1_000_000,
                           description="Requests waiting in a replica worker past this get 503 with Retry-After.")
    workers: int = Field(default=0, ge=0, le=64,
                         description="Processes per replica sharing its port; 0: one per core when ONNX "
                                     "Runtime serves, else one.")
    onnx: bool = Field(default=True, strict=True, description="Serve the verified ONNX export when the model has one.")


class VariantSpec(BaseModel):
    name: str = Field(default="primary", description="Variant name; the response header X-Slipway-Variant names it.",
                      json_schema_extra=NAME_SCHEMA)
    model: str = Field(description="name:N, name:latest or name@alias; resolved to name:N when deployed.",
                       json_schema_extra=MODEL_REF_SCHEMA)
    weight: float = Field(default=1.0, ge=0, description="Share of traffic, relative to the other variants.")
    replicas: int = Field(default=1, ge=1, le=64)
    serving: ServingOptions = Field(default_factory=ServingOptions)


class EndpointRequest(BaseModel):
    variants: list[VariantSpec] = Field(min_length=1, max_length=16, json_schema_extra={
        "contains": {"properties": {"weight": {"exclusiveMinimum": 0}}},  # some variant takes traffic
        "description": "At least one variant with a weight above 0 (the default is 1)."})


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
