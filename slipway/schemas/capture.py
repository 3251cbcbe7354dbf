"""Request capture: an endpoint's sampling setting and the captured records (SageMaker's format)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CaptureRequest(BaseModel):
    percent: float = Field(description="Share of requests to capture, 0 (off) to 100.")


class CaptureConfig(BaseModel):
    endpoint: str
    percent: float
    max_per_second: int = Field(description="Records per second at most (setting capture_max_per_second).")
    max_bytes: int = Field(description="Bodies longer than this are truncated and marked (capture_max_bytes).")


class CaptureRecords(BaseModel):
    endpoint: str
    since: str
    until: str
    records: list[dict[str, Any]] = Field(
        description="SageMaker data-capture records (captureData, eventMetadata, eventVersion), oldest first.")
