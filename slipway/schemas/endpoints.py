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


class ScalingSpec(BaseModel):
    """Autoscaling of an endpoint (docs/serving.md, "Autoscaling and scale to zero").

    With it the variant's ``replicas`` is ignored: the autoscaler keeps the count between ``min_replicas`` and
    ``max_replicas``. ``min_replicas`` 0 scales to zero when idle; requests then wait in a bounded queue while
    a replica starts. Rules across fields (min <= max, one variant) are checked by the service (400).
    """

    min_replicas: int = Field(default=1, ge=0, le=64, description="Replicas at least (0: scale to zero when idle).")
    max_replicas: int = Field(default=4, ge=1, le=64, description="Replicas at most; not below min_replicas.")
    target_inflight: float = Field(default=8.0, gt=0, le=100000,
                                   description="Requests in flight or queued per replica to aim for (above 0).")
    scale_in_after: float = Field(default=300.0, ge=1, le=86400,
                                  description="Seconds the load must stay below the current count before a replica "
                                              "stops (stable period).")
    idle_to_zero: float = Field(default=900.0, ge=1, le=604800,
                                description="Seconds without a request before the last replica stops "
                                            "(only with min_replicas 0).")
    max_concurrency: int | None = Field(default=None, ge=1, le=100000,
                                        description="Requests in flight at most across replicas; more wait in the "
                                                    "queue (serverless). None: no cap.")
    queue_size: int = Field(default=1000, ge=1, le=100000,
                            description="Requests held while no replica can take them; more get 429.")
    queue_timeout: float = Field(default=60.0, gt=0, le=3600,
                                 description="Seconds a held request waits for a replica before 503.")
    serverless: bool = Field(default=False, strict=True,
                             description="Scale to zero when idle, capped by max_concurrency (sets min_replicas 0).")


class EndpointRequest(BaseModel):
    variants: list[VariantSpec] = Field(min_length=1, max_length=16, json_schema_extra={
        "contains": {"properties": {"weight": {"exclusiveMinimum": 0}}},  # some variant takes traffic
        "description": "At least one variant with a weight above 0 (the default is 1)."})
    scaling: ScalingSpec | None = Field(default=None, description="Autoscaling; none: a fixed replica count.")


class EndpointUpdate(BaseModel):
    """PATCH: new variants, new scaling, or both; what is left out stays as it is."""

    variants: list[VariantSpec] | None = Field(default=None, min_length=1, max_length=16, json_schema_extra={
        "contains": {"properties": {"weight": {"exclusiveMinimum": 0}}},
        "description": "At least one variant with a weight above 0; leave out to keep the current ones."})
    scaling: ScalingSpec | None = Field(default=None, description="New autoscaling settings; leave out to keep them.")
    fixed: bool = Field(default=False, strict=True,
                        description="Turn autoscaling off (back to the variants' fixed replica counts).")


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


class ScalingDecisionView(BaseModel):
    at: dt.datetime
    replicas: int  # serving or starting when it decided
    desired: int
    reason: str
    inputs: dict[str, Any]  # load averaged over the window, in flight, queued, ready, starting, target


class VariantScalingView(BaseModel):
    """One variant of an autoscaled endpoint with several: each is scaled on its own load (its weight's share)."""

    name: str
    model: str
    weight: float
    replicas: int  # ready
    desired: int  # its last decision's count
    reason: str = ""  # its last decision


class ScalingView(BaseModel):
    """What the autoscaler sees and decided; ``queue_depth``/``in_flight`` are this server's, now."""

    settings: ScalingSpec
    replicas: int
    desired: int
    queue_depth: int = 0
    in_flight: int = 0
    queue_overflows: int = 0  # 429s since this server started
    queue_timeouts: int = 0  # 503s since this server started
    cold_start_seconds: float | None = None  # the last measured start of a replica of this model
    decisions: list[ScalingDecisionView] = Field(default_factory=list)  # newest first
    variants: list[VariantScalingView] = Field(default_factory=list)  # per variant, when there are several


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
    scaling: ScalingView | None = None
    warnings: list[str] = Field(default_factory=list)  # said once, by the call that made the change
