"""Tuning job shapes on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from slipway.schemas.jobs import CreateJobRequest

TUNING_TERMINAL = ("Completed", "Failed", "Stopped")


class CreateTuningRequest(BaseModel):
    job: CreateJobRequest = Field(..., description="The training job each trial runs; tuned values override its hyperparameters.")
    objective: str = Field(..., description="Metric to optimise, e.g. validation:roc_auc.",
                           json_schema_extra={"minLength": 1})
    maximize: bool = True
    ranges: list[str] = Field(default_factory=list, description="NAME=MIN:MAX[:int][:log] or NAME=A,B,C; default: the algorithm's search space.")
    strategy: str = "bayesian"
    max_trials: int = Field(20, ge=1, le=10000)
    max_parallel: int = Field(1, ge=1, le=256)
    max_runtime: int | None = Field(None, ge=1, description="Seconds for the whole tuning job.")
    early_stopping: str = "none"
    seed: int | None = None
    warm_start_from: str | None = Field(None, description="Name of an earlier tuning job whose trials seed this one.")


class TrialView(BaseModel):
    number: int
    status: str
    job: str | None
    params: dict[str, Any]
    objective: float | None
    steps: int
    reason: str


class TuningJobView(BaseModel):
    name: str
    status: str
    strategy: str
    objective: str
    maximize: bool
    ranges: dict[str, str]
    max_trials: int
    max_parallel: int
    max_runtime: int | None
    early_stopping: str
    seed: int | None
    warm_start_from: str | None
    template: dict[str, Any]
    failure_reason: str | None
    counters: dict[str, int]
    best_trial: TrialView | None
    trials: list[TrialView] = Field(default_factory=list)
    created_at: dt.datetime
    created_by: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None

    @property
    def done(self) -> bool:
        return self.status in TUNING_TERMINAL
