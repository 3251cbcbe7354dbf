"""SDK: pipelines (create from YAML or Python, list, show, delete) and their runs (start, wait, list, show).

    from slipway.pipelines import Pipeline
    c.pipelines.create("retrain", Pipeline.from_file("retrain.yaml"))   # uploads each step's source_dir
    run = c.pipelines.run("retrain", {"min_accuracy": 0.9}, wait=True)
    [(s.name, s.status, s.cached_from) for s in run.steps]
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway.sdk.http import Api

if TYPE_CHECKING:
    from slipway.pipelines import Pipeline
    from slipway.schemas.pipelines import PipelineRunView, PipelineView
    from slipway.sdk.jobs import Jobs

__all__ = ["Pipelines"]


class Pipelines:
    def __init__(self, api: Api, jobs: Jobs) -> None:
        self._api = api
        self._jobs = jobs

    def create(self, name: str, pipeline: Pipeline | dict[str, Any] | str | os.PathLike[str]) -> PipelineView:
        """Create or update ``name`` from a Pipeline, a dict of the same shape, or a YAML file's path. Each script
        step's ``source_dir`` (or the script's own folder) is uploaded first; the server keeps its sha256."""
        from slipway.pipelines import Pipeline
        from slipway.schemas.pipelines import PipelineView

        if isinstance(pipeline, (str, os.PathLike)):
            pipeline = Pipeline.from_file(pipeline)
        elif isinstance(pipeline, dict):
            pipeline = Pipeline.model_validate(pipeline)
        pipeline = Pipeline.model_validate(pipeline.model_dump(by_alias=True))
        for step in pipeline.steps:
            script = getattr(step, "script", None)
            if script and not step.source_sha256:
                source_dir = Path(step.source_dir) if step.source_dir else None
                entry, sha = self._jobs._upload_source(f"{name}-source"[:63], Path(script), source_dir)
                step.script, step.source_sha256, step.source_dir = entry, sha, None
        body = pipeline.model_dump(mode="json", by_alias=True, exclude_none=True)
        return PipelineView.model_validate(self._api.json("POST", f"/api/v1/pipelines/{name}", json=body))

    def get(self, name: str) -> PipelineView:
        from slipway.schemas.pipelines import PipelineView

        return PipelineView.model_validate(self._api.json("GET", f"/api/v1/pipelines/{name}"))

    def list(self) -> list[PipelineView]:
        from slipway.schemas.pipelines import PipelineView

        return [PipelineView.model_validate(p) for p in self._api.json("GET", "/api/v1/pipelines")]

    def delete(self, name: str) -> PipelineView:
        from slipway.schemas.pipelines import PipelineView

        return PipelineView.model_validate(self._api.json("DELETE", f"/api/v1/pipelines/{name}"))

    def run(self, name: str, parameters: dict[str, Any] | None = None, wait: bool = False,
            timeout: float | None = None) -> PipelineRunView:
        from slipway.schemas.pipelines import PipelineRunView

        run = PipelineRunView.model_validate(self._api.json(
            "POST", f"/api/v1/pipelines/{name}/runs", json={"parameters": dict(parameters or {})}))
        return self.wait(name, run.number, timeout) if wait else run

    def runs(self, name: str) -> list[PipelineRunView]:
        from slipway.schemas.pipelines import PipelineRunView

        return [PipelineRunView.model_validate(r) for r in self._api.json("GET", f"/api/v1/pipelines/{name}/runs")]

    def get_run(self, name: str, number: int) -> PipelineRunView:
        from slipway.schemas.pipelines import PipelineRunView

        return PipelineRunView.model_validate(self._api.json("GET", f"/api/v1/pipelines/{name}/runs/{number}"))

    def stop_run(self, name: str, number: int) -> PipelineRunView:
        """Stop run ``number``: its running jobs stop, the steps not yet run are skipped, the run ends Stopped."""
        from slipway.schemas.pipelines import PipelineRunView

        return PipelineRunView.model_validate(self._api.json("POST", f"/api/v1/pipelines/{name}/runs/{number}/stop"))

    def schedule(self, name: str, cron: str, timezone: str, parameters: dict[str, Any] | None = None
                 ) -> PipelineView:
        """Run ``name`` when ``cron`` (five fields) says, read in ``timezone`` (an IANA name)."""
        from slipway.schemas.pipelines import PipelineView

        body = {"cron": cron, "timezone": timezone, "parameters": dict(parameters or {})}
        return PipelineView.model_validate(self._api.json("PUT", f"/api/v1/pipelines/{name}/schedule", json=body))

    def unschedule(self, name: str) -> PipelineView:
        from slipway.schemas.pipelines import PipelineView

        return PipelineView.model_validate(self._api.json("DELETE", f"/api/v1/pipelines/{name}/schedule"))

    def trigger(self, name: str, on: str, parameters: dict[str, Any] | None = None) -> PipelineView:
        """Start a run on each new event ``on`` names (``dataset:reviews``, ``alarm:cancer-drift``…);
        parameter values may use ``{{ event.ref }}``, ``{{ event.subject }}``."""
        from slipway.schemas.pipelines import PipelineView

        body = {"on": on, "parameters": dict(parameters or {})}
        return PipelineView.model_validate(self._api.json("POST", f"/api/v1/pipelines/{name}/triggers", json=body))

    def remove_trigger(self, name: str, on: str) -> PipelineView:
        from slipway.schemas.pipelines import PipelineView

        return PipelineView.model_validate(self._api.json("DELETE", f"/api/v1/pipelines/{name}/triggers",
                                                          params={"on": on}))

    def wait(self, name: str, number: int, timeout: float | None = None, poll: float = 0.5) -> PipelineRunView:
        """Block until run ``number`` ends (Succeeded, Failed or Stopped); returns it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(name, number)
            if run.done:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Pipeline {name!r} run {number} still {run.status} after {timeout} s.")
            time.sleep(poll)
