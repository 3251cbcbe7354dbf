"""Shapes shared by every resource: pages of results and the server status."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    next_page_token: str | None = Field(default=None, description="Pass as page_token to get the next page.")


class SandboxStatus(BaseModel):
    """Whether user code (jobs, tuning trials, replicas) runs confined on the server's host, and how."""

    isolated: bool
    mechanism: str = Field(description="e.g. 'landlock ABI 7'; empty when jobs are not isolated.")
    message: str = Field(description="What a person reads: 'jobs are isolated …' or 'jobs are not isolated: <fix>'.")


class ServerStatus(BaseModel):
    url: str
    version: str
    database: str
    database_backend: str
    artifact_store: str
    home: str
    pid: int
    started_at: str
    counts: dict[str, int]
    controllers: list[str]
    sandbox: SandboxStatus
    compute: str = Field("local", description="Where training jobs run (setting compute_url, no secrets).")
    serving_runtime: str = Field("local", description="Where endpoint replicas run (setting serving_runtime_url).")
    leading: list[str] = Field(default_factory=list,
                               description="Controllers running on this server (on Postgres: those it leads).")
