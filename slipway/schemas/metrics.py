"""Endpoint metrics: per-minute rollups per variant, as the REST API, SDK and CLI show them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MinuteMetrics(BaseModel):
    minute: str = Field(description="Start of the minute, ISO 8601 UTC.")
    variant: str = Field(description="Variant that answered; empty when none was picked (e.g. 503).")
    requests: int
    requests_per_second: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    max_ms: float | None
    status_2xx: int = Field(description="Successful answers (any status below 400).")
    status_4xx: int
    status_5xx: int


class EndpointMetrics(BaseModel):
    endpoint: str
    since: str
    until: str
    points: list[MinuteMetrics] = Field(description="One per minute and variant that had requests, oldest first.")
