"""SDK: training jobs (create, get, list, wait, logs, metrics, stop, download) and built-in algorithms.

    job = c.jobs.create(algorithm="logistic-regression", data={"train": "cancer:1"}, hyperparameters={"C": 0.5})
    job.wait()
    job.metrics        # {"validation:accuracy": 0.97, ...}
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument, JobFailed
from slipway.names import check_name
from slipway.schemas import AlgorithmView, CreateJobRequest, JobMetrics, JobView, Page, SourceUpload
from slipway.sdk.http import Api, drop_none

__all__ = ["Algorithms", "Job", "Jobs", "generate_name", "parse_metric_definition"]


def generate_name(base: str) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S-%f")[:-3]
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", base).strip("-")[: 63 - len(stamp) - 1] or "job"
    return f"{stem}-{stamp}"


def parse_metric_definition(text: str) -> dict[str, str]:
    """``'rmse=Test RMSE: ([0-9.]+)'`` -> {"name": "rmse", "regex": "Test RMSE: ([0-9.]+)"}."""
    name, sep, regex = text.partition("=")
    if not sep or not name.strip() or not regex:
        raise InvalidArgument(f"Metric definition {text!r} is not valid. Expected NAME=REGEX, e.g. "
                              "'rmse=Test RMSE: ([0-9.]+)'.", {"field": "metric_definitions", "value": text})
    return {"name": name.strip(), "regex": regex}


class Job:
    """A training job; attributes of its latest JobView (``status``, ``final_metrics``…) read through."""

    def __init__(self, jobs: Jobs, view: JobView) -> None:
        self._jobs = jobs
        self.view = view

    def __getattr__(self, item: str) -> Any:
        return getattr(self.__dict__["view"], item)

    def __repr__(self) -> str:
        return f"Job({self.view.name!r}, status={self.view.status!r})"

    @property
    def metrics(self) -> dict[str, float]:
        return self.view.final_metrics

    def refresh(self) -> Job:
        self.view = self._jobs.get(self.view.name).view
        return self

    def wait(self, timeout: float | None = None, poll: float = 0.25, logs: bool = False,
             on_update: Callable[[JobView], None] | None = None) -> Job:
        """Block until the job ends; raise JobFailed (with the reason) if it failed. ``logs`` prints them."""
        deadline = None if timeout is None else time.monotonic() + timeout
        offset = 0
        while True:
            if logs:
                for chunk, offset in self._jobs._log_chunks(self.view.name, offset):
                    print(chunk.decode("utf-8", "replace"), end="", flush=True)
            self.refresh()
            if on_update:
                on_update(self.view)
            if self.view.done:
                if logs:
                    for chunk, offset in self._jobs._log_chunks(self.view.name, offset):
                        print(chunk.decode("utf-8", "replace"), end="", flush=True)
                break
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"Job {self.view.name!r} still {self.view.status} after {timeout} s.")
            time.sleep(poll)
        if self.view.status == "Failed":
            raise JobFailed(f"Job {self.view.name!r} failed: {self.view.failure_reason}",
                            {"name": self.view.name, "failure_reason": self.view.failure_reason})
        return self

    def logs(self, follow: bool = False) -> Iterator[str]:
        return self._jobs.logs(self.view.name, follow=follow)

    def metric_series(self) -> JobMetrics:
        return self._jobs.metrics(self.view.name)

    def stop(self) -> Job:
        self.view = self._jobs.stop(self.view.name).view
        return self

    def download(self, dest: str | os.PathLike[str] = ".") -> Path:
        return self._jobs.download(self.view.name, dest)


class Jobs:
    def __init__(self, api: Api) -> None:
        self._api = api

    def build_request(
        self,
        name: str,
        *,
        algorithm: str | None = None,
        script: str | os.PathLike[str] | None = None,
        source_dir: str | os.PathLike[str] | None = None,
        framework: str | None = None,
        data: Mapping[str, str] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        label: str | None = None,
        validation_split: float | None = None,
        metric_definitions: Mapping[str, str] | list[dict[str, str]] | None = None,
        max_runtime: int | None = None,
        memory_limit_mb: int | None = None,
        secrets: list[str] | None = None,
        cpus: float | None = None,
        gpus: float | None = None,
    ) -> CreateJobRequest:
        """The request for a job (a script's source folder is uploaded now); tuning uses it as a template."""
        if script is not None and algorithm is not None:
            raise InvalidArgument("Pass either algorithm or script, not both.", {"field": "algorithm"})
        defs: list[dict[str, str]] = []
        if isinstance(metric_definitions, Mapping):
            defs = [{"name": k, "regex": v} for k, v in metric_definitions.items()]
        elif metric_definitions:
            defs = list(metric_definitions)
        source_sha = entry = None
        if script is not None:
            entry, source_sha = self._upload_source(name, Path(script), Path(source_dir) if source_dir else None)
        return CreateJobRequest(
            algorithm=algorithm, entry_point=entry, source_sha256=source_sha, framework=framework,
            inputs=dict(data or {}), hyperparameters=dict(hyperparameters or {}), label=label,
            validation_split=validation_split, metric_definitions=defs,  # type: ignore[arg-type]
            max_runtime=max_runtime, memory_limit_mb=memory_limit_mb, secrets=list(secrets or []),
            cpus=cpus, gpus=gpus,
        )

    def create(self, name: str | None = None, *, wait: bool = False, **kw: Any) -> Job:
        """Start a job: a built-in ``algorithm``, or a ``script`` (in ``source_dir``, uploaded) in script mode.

        Keyword arguments are those of ``build_request``.
        """
        script = kw.get("script")
        base = kw.get("algorithm") or (Path(script).stem if script is not None else "job")
        name = name or generate_name(base)
        check_name(name, "job")
        spec = self.build_request(name, **kw)
        body = spec.model_dump(mode="json", exclude_none=True)
        job = Job(self, JobView.model_validate(self._api.json("POST", f"/api/v1/jobs/{name}", json=body)))
        return job.wait() if wait else job

    def process(self, name: str | None = None, *, script: str | os.PathLike[str] | None = None,
                source_dir: str | os.PathLike[str] | None = None, inputs: Mapping[str, str] | None = None,
                outputs: Mapping[str, str] | None = None, arguments: list[str] | None = None,
                builtin: str | None = None, parameters: Mapping[str, Any] | None = None,
                wait: bool = False, **kw: Any) -> Job:
        """Start a processing job (SageMaker Processing): ``script`` reads ``inputs`` (channel -> dataset
        version) under /opt/ml/processing/input/<channel> and writes each of ``outputs`` (channel -> dataset
        name) under /opt/ml/processing/output/<channel>, which becomes a new version of that dataset.
        ``builtin`` (split, scale, one-hot, impute) with its ``parameters`` runs built-in processing instead.

        Other keyword arguments (framework, max_runtime, memory_limit_mb, secrets, cpus, gpus) are those of ``build_request``.
        """
        if (script is None) == (builtin is None):
            raise InvalidArgument("A processing job runs either a script or a builtin; give exactly one.",
                                  {"field": "builtin", "value": builtin})
        name = name or generate_name(Path(script).stem if script is not None else str(builtin))
        check_name(name, "job")
        if builtin is not None:
            # not validated here: the server names a bad builtin or parameter (400)
            spec = CreateJobRequest.model_construct(builtin=builtin, inputs=dict(inputs or {}),
                                                    hyperparameters=dict(parameters or {}), **kw)
        else:
            spec = self.build_request(name, script=script, source_dir=source_dir, data=inputs, **kw)
        spec = spec.model_copy(update={"processing": True, "outputs": dict(outputs or {}),
                                       "arguments": [str(a) for a in arguments or []]})
        body = spec.model_dump(mode="json", exclude_none=True)
        job = Job(self, JobView.model_validate(self._api.json("POST", f"/api/v1/jobs/{name}", json=body)))
        return job.wait() if wait else job

    def _upload_source(self, name: str, script: Path, source_dir: Path | None) -> tuple[str, str]:
        from slipway.data import pack_folder

        if source_dir is not None:
            if not source_dir.is_dir():
                raise InvalidArgument(f"Source folder {str(source_dir)!r} does not exist or is not a folder.",
                                      {"field": "source_dir", "value": str(source_dir)})
            target = script if script.is_absolute() else source_dir / script
            if not target.is_file():
                raise InvalidArgument(
                    f"Script {str(script)!r} not found in source folder {str(source_dir)!r}. Expected a path "
                    "relative to the source folder, e.g. --script train.py --source-dir ./src.",
                    {"field": "script", "value": str(script)})
            entry = target.resolve().relative_to(source_dir.resolve()).as_posix()
            folder = source_dir
            tmp_folder = None
        else:
            if not script.is_file():
                raise InvalidArgument(f"Script {str(script)!r} does not exist. Expected a Python file.",
                                      {"field": "script", "value": str(script)})
            tmp_folder = tempfile.TemporaryDirectory(prefix="slipway-src-")
            folder = Path(tmp_folder.name)
            (folder / script.name).write_bytes(script.read_bytes())
            entry = script.name
        try:
            with tempfile.TemporaryDirectory(prefix="slipway-src-tar-") as tmp:
                packed = Path(tmp) / "source.tar"
                with open(packed, "wb") as out:
                    pack_folder(folder, out)
                with open(packed, "rb") as f:
                    data = self._api.json("PUT", f"/api/v1/jobs/{name}/source", content=f.read(),
                                          headers={"Content-Type": "application/x-tar"})
        finally:
            if tmp_folder is not None:
                tmp_folder.cleanup()
        return entry, SourceUpload.model_validate(data).sha256

    def get(self, name: str) -> Job:
        return Job(self, JobView.model_validate(self._api.json("GET", f"/api/v1/jobs/{name}")))

    def list(self, status: str | None = None, limit: int | None = None,
             page_token: str | None = None) -> Page[JobView]:
        params = drop_none(status=status, limit=limit, page_token=page_token)
        return Page[JobView].model_validate(self._api.json("GET", "/api/v1/jobs", params=params))

    def iter(self, status: str | None = None) -> Iterator[JobView]:
        token: str | None = None
        while True:
            page = self.list(status=status, page_token=token)
            yield from page.items
            token = page.next_page_token
            if token is None:
                return

    def stop(self, name: str) -> Job:
        return Job(self, JobView.model_validate(self._api.json("POST", f"/api/v1/jobs/{name}/stop")))

    def metrics(self, name: str) -> JobMetrics:
        return JobMetrics.model_validate(self._api.json("GET", f"/api/v1/jobs/{name}/metrics"))

    def _log_chunks(self, name: str, offset: int) -> Iterator[tuple[bytes, int]]:
        while True:
            resp = self._api.request("GET", f"/api/v1/jobs/{name}/logs", params={"offset": offset})
            nxt = int(resp.headers.get("X-Slipway-Next-Offset", offset))
            if not resp.content:
                return
            offset = nxt
            yield resp.content, offset

    def logs(self, name: str, follow: bool = False, poll: float = 0.3) -> Iterator[str]:
        """The job's log as text chunks; with ``follow``, until the job ends."""
        offset = 0
        while True:
            got = False
            for chunk, offset in self._log_chunks(name, offset):
                got = True
                yield chunk.decode("utf-8", "replace")
            if not follow:
                return
            if not got:
                status = self._api.request("GET", f"/api/v1/jobs/{name}/logs", params={"offset": offset}) \
                    .headers.get("X-Slipway-Job-Status", "")
                if status in ("Completed", "Failed", "Stopped"):
                    for chunk, offset in self._log_chunks(name, offset):
                        yield chunk.decode("utf-8", "replace")
                    return
                time.sleep(poll)

    def download(self, name: str, dest: str | os.PathLike[str] = ".", what: str = "model") -> Path:
        """Save the job's ``model`` (or ``output``) archive into folder ``dest``; returns the file."""
        out_dir = Path(dest)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"{name}-{what}.tar.gz"
        return self._api.download(f"/api/v1/jobs/{name}/{what}", target)


class Algorithms:
    def __init__(self, api: Api) -> None:
        self._api = api

    def list(self) -> list[AlgorithmView]:
        return [AlgorithmView.model_validate(a) for a in self._api.json("GET", "/api/v1/algorithms")]

    def get(self, name: str) -> AlgorithmView:
        return AlgorithmView.model_validate(self._api.json("GET", f"/api/v1/algorithms/{name}"))
