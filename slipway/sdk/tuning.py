"""SDK: tuning jobs (create, list, get, stop, resume, wait)."""

from __future__ import annotations

import time
from typing import Any

from slipway.errors import JobFailed, SlipwayError
from slipway.schemas import Page
from slipway.schemas.tuning import CreateTuningRequest, TuningJobView
from slipway.sdk.http import Api, drop_none

__all__ = ["TuningJobs", "TuningJob"]


class TuningJob:
    """A handle on a tuning job: ``refresh()``, ``wait()``, ``best``, ``trials``."""

    def __init__(self, api: Api, view: TuningJobView) -> None:
        self._api = api
        self.view = view

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def best(self) -> Any:
        return self.view.best_trial

    @property
    def trials(self) -> list[Any]:
        return self.view.trials

    def refresh(self) -> TuningJob:
        self.view = TuningJobView.model_validate(self._api.json("GET", f"/api/v1/tuning-jobs/{self.name}"))
        return self

    def wait(self, timeout: float | None = None, poll: float = 1.0, raise_on_failure: bool = True) -> TuningJob:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.refresh().view.done:
            if deadline is not None and time.monotonic() > deadline:
                raise SlipwayError(f"Tuning job {self.name!r} still {self.view.status} after {timeout} s.")
            time.sleep(poll)
        if raise_on_failure and self.view.status == "Failed":
            raise JobFailed(f"Tuning job {self.name!r} failed: {self.view.failure_reason}",
                            {"name": self.name, "reason": self.view.failure_reason})
        return self


class TuningJobs:
    def __init__(self, api: Api) -> None:
        self._api = api

    def create(self, name: str, request: CreateTuningRequest | None = None, **kw: Any) -> TuningJob:
        """``create("t", job=CreateJobRequest(...), objective="validation:accuracy", ranges=[...])``."""
        req = request or CreateTuningRequest(**kw)
        data = self._api.json("POST", f"/api/v1/tuning-jobs/{name}", json=req.model_dump(mode="json"))
        return TuningJob(self._api, TuningJobView.model_validate(data))

    def get(self, name: str) -> TuningJob:
        return TuningJob(self._api, TuningJobView.model_validate(self._api.json("GET", f"/api/v1/tuning-jobs/{name}")))

    def list(self, status: str | None = None, limit: int | None = None,
             page_token: str | None = None) -> Page[TuningJobView]:
        params = drop_none(status=status, limit=limit, page_token=page_token)
        return Page[TuningJobView].model_validate(self._api.json("GET", "/api/v1/tuning-jobs", params=params))

    def stop(self, name: str) -> TuningJob:
        return TuningJob(self._api, TuningJobView.model_validate(
            self._api.json("POST", f"/api/v1/tuning-jobs/{name}/stop")))

    def resume(self, name: str) -> TuningJob:
        return TuningJob(self._api, TuningJobView.model_validate(
            self._api.json("POST", f"/api/v1/tuning-jobs/{name}/resume")))
