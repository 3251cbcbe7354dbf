"""Asynchronous invocations: what a caller sees of a queued request and its result."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

CALLBACK_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"


class AsyncInvocationView(BaseModel):
    id: str
    endpoint: str
    status: str = Field(description="queued | running | succeeded | failed")
    content_type: str
    input_bytes: int
    created_at: dt.datetime
    created_by: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = 0
    variant: str = ""
    model: str = ""
    http_status: int | None = Field(None, description="The replica's HTTP status for the request, once answered.")
    error: str = ""
    result_url: str = Field(description="GET it for the answer body as the model gave it (once succeeded).")
    output_content_type: str | None = None
    result: Any = Field(None, description="The answer, decoded, when it is JSON of at most 1 MB.")
    callback_url: str | None = None
    callback_status: str | None = Field(None, description="pending | delivered | failed (None without a callback)")
    callback_attempts: int = 0
    callback_error: str = ""
