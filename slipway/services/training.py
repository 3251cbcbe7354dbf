"""Training jobs: the rules for creating, reading, stopping them and for their logs, metrics and models.

Creating a job only writes a Pending row (and its dataset references) and wakes the jobs
controller, which prepares the folder and starts the process (see ``job_runs``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.algorithms import CLASSIFICATION, Algorithm, get_algorithm, validate_hyperparameters
from slipway.algorithms._deep import DATA_FORMATS as DEEP_DATA_FORMATS
from slipway.algorithms.base import coerce_hyperparameter
from slipway.artifacts.flavors import require_extra
from slipway.compute.base import Resources
from slipway.db import Database, utcnow
from slipway.db.models import Job, JobMetric, Reference
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from slipway.names import check_name
from slipway.schemas import CreateJobRequest, DatasetVersionView, JobMetrics, JobView, MetricPoint, Page
from slipway.schemas.jobs import TERMINAL
from slipway.services.datasets import DatasetService
from slipway.services.secrets import SecretService, job_env_names
from slipway.settings import Settings
from slipway.storage import ArtifactStore

__all__ = ["TrainingService", "job_view", "transition"]

JOB_STATUSES = ("Pending", "InProgress", "Completed", "Failed", "Stopping", "Stopped")

TABLES = ("csv", "parquet", "jsonl")
FRAMEWORKS = ("sklearn", "pytorch", "keras", "xgboost", "lightgbm", "custom")
ACTIVE = ("Pending", "InProgress", "Stopping")
_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_HP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
MAX_CLASSES = 20  # an integer label with more distinct values is a regression target


def logs_key(name: str) -> str:
    return f"jobs/{name}/logs.txt"


def source_key(sha256: str) -> str:
    return f"sources/{sha256}.tar"


def transition(job: Job, status: str | None = None, secondary: str | None = None, message: str = "") -> None:
    """Move ``job`` to a new status and/or secondary status, closing the previous secondary one."""
    now = utcnow()
    if status is not None:
        job.status = status
    if secondary is not None and secondary != job.secondary_status:
        history = [dict(t) for t in job.transitions or []]
        if history and history[-1].get("end_time") is None:
            history[-1]["end_time"] = now.isoformat()
        history.append({"status": secondary, "start_time": now.isoformat(), "end_time": None, "message": message})
        job.secondary_status = secondary
        job.transitions = history


def job_resources(job: Job) -> Resources:
    """What the job asks of the executor's scheduler: its CPUs (default 1), GPUs and memory limit."""
    return Resources.asked(job.cpus, job.gpus, job.memory_limit_mb)


def job_view(job: Job) -> JobView:
    end = job.ended_at or (utcnow() if job.started_at else None)
    return JobView(
        name=job.name, kind=job.kind, algorithm=job.algorithm, framework=job.framework, entry_point=job.entry_point,
        source_sha256=job.source_sha256, inputs={k: v["ref"] for k, v in (job.inputs or {}).items()},
        hyperparameters=job.hyperparameters or {}, label=job.label, problem_type=job.problem_type,
        validation_split=job.validation_split, metric_definitions=job.metric_definitions or [],
        max_runtime=job.max_runtime, memory_limit_mb=job.memory_limit_mb, cpus=job.cpus, gpus=job.gpus,
        secrets=list(job.secrets or []),
        outputs={k: v.get("ref") or v["dataset"] for k, v in (job.outputs or {}).items()},
        arguments=list(job.arguments or []), status=job.status,
        secondary_status=job.secondary_status, transitions=job.transitions or [], failure_reason=job.failure_reason,
        final_metrics=job.final_metrics or {}, model_available=job.model_key is not None, created_at=job.created_at,
        started_at=job.started_at, ended_at=job.ended_at,
        duration_s=(end - job.started_at).total_seconds() if end and job.started_at else None,
        created_by=job.created_by,
    )


def _problem_type(algo_types: tuple[str, ...], train: DatasetVersionView, label: str | None) -> str:
    """binary/multiclass classification or regression from the label's dtype and classes, within what the
    algorithm supports."""
    if algo_types[0] not in (CLASSIFICATION, "regression"):
        return algo_types[0]
    classes = train.info.get("classes")
    dtype = next((c.dtype for c in train.schema_ if c.name == label), "string")
    categorical = train.format not in TABLES or dtype in ("string", "bool") or (
        dtype == "int64" and classes is not None and len(classes) <= MAX_CLASSES)
    if CLASSIFICATION in algo_types and (categorical or algo_types == (CLASSIFICATION,)):
        if not categorical:
            distinct = "many" if classes is None else str(len(classes))
            raise InvalidArgument(
                f"{train.ref} label {label!r} looks continuous ({dtype}, {distinct} distinct values) but the "
                "algorithm is a classifier. Use a regression algorithm (e.g. linear-regression) or another label.",
                {"field": "label", "value": label},
            )
        n = len(classes) if classes else 2
        return "binary_classification" if n <= 2 else "multiclass_classification"
    if dtype in ("string", "bool"):
        raise InvalidArgument(
            f"{train.ref} label {label!r} is {dtype}, but the algorithm does regression. Use a classifier "
            "(e.g. logistic-regression).",
            {"field": "label", "value": label},
        )
    return "regression"


class TrainingService:
    def __init__(self, db: Database, store: ArtifactStore, datasets: DatasetService, settings: Settings,
                 secrets: SecretService | None = None, fits: Callable[[Resources], None] | None = None) -> None:
        self.db = db
        self.fits = fits  # raises when the executor can never place a job's resources (Ray: no node has them)
        self.secrets = secrets
        self.store = store
        self.datasets = datasets
        self.settings = settings
        self.wakeup = threading.Event()  # set on every change the jobs controller should act on now

    # -- creating --------------------------------------------------------------------------------

    def put_source(self, path: Path, size: int, sha256: str) -> str:
        """Store an uploaded source folder (a tar), content-addressed; return its sha256."""
        try:
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    p = PurePosixPath(member.name)
                    if p.is_absolute() or ".." in p.parts or not (member.isreg() or member.isdir()):
                        raise InvalidArgument(f"Unsafe entry {member.name!r} in the source archive.",
                                              {"field": "source", "value": member.name})
        except tarfile.TarError as exc:
            raise InvalidArgument(f"The source upload is not a tar archive ({exc}).", {"field": "source"}) from None
        if not self.store.exists(source_key(sha256)):
            self.store.put_file(source_key(sha256), path)
        return sha256

    def _source_files(self, sha256: str) -> set[str]:
        if not _SHA.match(sha256) or not self.store.exists(source_key(sha256)):
            raise InvalidArgument(
                f"Source {sha256!r} was not uploaded. Upload the source folder first (PUT /api/v1/jobs/NAME/source).",
                {"field": "source_sha256", "value": sha256},
            )
        with self.store.open(source_key(sha256)) as f, tarfile.open(fileobj=f, mode="r|*") as tar:
            return {PurePosixPath(m.name).as_posix() for m in tar if m.isreg()}

    def _resolve_inputs(self, inputs: dict[str, str]) -> dict[str, DatasetVersionView]:
        views: dict[str, DatasetVersionView] = {}
        for channel, ref in inputs.items():
            if not _CHANNEL.match(channel):
                raise InvalidArgument(
                    f"Channel name {channel!r} is not valid. Expected letters, digits, '_' or '-' (e.g. train).",
                    {"field": "inputs", "value": channel},
                )
            views[channel] = self.datasets.get(ref)
        return views

    def _check_label(self, v: DatasetVersionView, label: str | None, channel: str) -> None:
        columns = [c.name for c in v.schema_]
        if label is None:
            raise InvalidArgument(
                f"Dataset version {v.ref} (channel {channel!r}) has no label column. Pass --label COLUMN; its "
                f"columns are: {', '.join(columns)}.",
                {"field": "label", "value": None, "expected": columns},
            )
        if label not in columns:
            raise InvalidArgument(
                f"Label column {label!r} not found in {v.ref} (channel {channel!r}). Its columns are: "
                f"{', '.join(columns)}.",
                {"field": "label", "value": label, "expected": columns},
            )

    def _check_algorithm_job(self, spec: CreateJobRequest, views: dict[str, DatasetVersionView]) -> dict[str, Any]:
        try:
            algo = get_algorithm(spec.algorithm or "")
        except NotFound as exc:
            raise InvalidArgument(exc.message, exc.details) from None
        hps = validate_hyperparameters(algo, spec.hyperparameters)
        if "train" not in views:
            raise InvalidArgument(
                f"{algo.name} needs a 'train' channel, e.g. --data train=cancer:1. Got channels: "
                f"{', '.join(views) or 'none'}.",
                {"field": "inputs", "value": list(views)},
            )
        train = views["train"]
        if algo.framework != "sklearn":
            return self._check_deep_job(algo, hps, spec, views)
        label = spec.label or train.label
        for channel, v in views.items():
            if v.format == "text-folder" and "text" in algo.input_kinds:
                continue
            if v.format not in TABLES:
                kinds = "tables (csv, parquet, jsonl)" + (" or text folders" if "text" in algo.input_kinds else "")
                raise InvalidArgument(
                    f"{algo.name} trains on {kinds}; {v.ref} (channel {channel!r}) is {v.format}. Train a script "
                    "on it instead (--script).",
                    {"field": "inputs", "value": v.ref},
                )
            if algo.supervised:
                self._check_label(v, label, channel)
        if train.format == "text-folder":
            label = None
        self._check_validation(spec, views)
        problem = _problem_type(algo.problem_types, train, label)
        # Unsupervised algorithms keep the label only to leave it out of the features.
        return {"algorithm": algo.name, "hps": hps, "label": label, "problem": problem}

    @staticmethod
    def _check_validation(spec: CreateJobRequest, views: dict[str, DatasetVersionView]) -> None:
        """A split and a validation channel at once (the split would be ignored), or a split that leaves a
        side empty, fail at submission instead of inside the job."""
        split = spec.validation_split
        if split is None:
            return
        if "validation" in views:
            raise InvalidArgument(
                f"Both validation_split ({split}) and a 'validation' channel ({views['validation'].ref}) were "
                "given; the channel would be used and the split ignored. Pass one: --validation-split or "
                "--data validation=NAME:VERSION.",
                {"field": "validation_split", "value": split, "expected": "no validation channel"},
            )
        rows = views["train"].rows
        if rows is not None:
            held_out = math.ceil(rows * split)  # as scikit-learn's train_test_split rounds the test side
            if held_out < 1 or rows - held_out < 2:
                raise InvalidArgument(
                    f"validation_split {split} of {views['train'].ref} ({rows} rows) leaves {rows - held_out} "
                    f"rows to train on and {held_out} to validate. Expected at least 2 and 1: push more rows or "
                    "change the split.",
                    {"field": "validation_split", "value": split, "expected": "at least 2 train rows and 1 "
                                                                              "validation row"},
                )

    def _check_deep_job(self, algo: Algorithm, hps: dict[str, Any], spec: CreateJobRequest,
                        views: dict[str, DatasetVersionView]) -> dict[str, Any]:
        """image-classifier / sequence-classifier: the pytorch extra, the data formats, at least two classes."""
        require_extra("pytorch", f"The {algo.name} algorithm")
        for channel, v in views.items():
            if v.format in algo.input_kinds:
                continue
            other = next((n for n, kinds in DEEP_DATA_FORMATS.items() if v.format in kinds and n != algo.name), None)
            hint = f"Use --algorithm {other} for it." if other else "Train a script on it instead (--script)."
            raise InvalidArgument(
                f"{algo.name} trains on {', '.join(algo.input_kinds)} datasets; {v.ref} (channel {channel!r}) is "
                f"{v.format}. {hint}",
                {"field": "inputs", "value": v.ref, "expected": list(algo.input_kinds)},
            )
        train = views["train"]
        classes = train.info.get("classes")
        if classes is not None and len(classes) < 2:
            raise InvalidArgument(
                f"{train.ref} has {len(classes)} class ({', '.join(map(repr, classes)) or 'none'}); {algo.name} "
                "needs at least two: add a subfolder per class and push a new version.",
                {"field": "inputs", "value": train.ref, "expected": "at least two classes"},
            )
        if spec.validation_split is not None and "validation_split" not in spec.hyperparameters:
            param = algo.param("validation_split")
            assert param is not None
            hps["validation_split"] = coerce_hyperparameter(algo.name, param, spec.validation_split)
        problem = "binary_classification" if classes is not None and len(classes) == 2 else \
            "multiclass_classification"
        return {"algorithm": algo.name, "hps": hps, "label": None, "problem": problem}

    def _check_metric_definitions(self, spec: CreateJobRequest) -> list[dict[str, str]]:
        out = []
        for d in spec.metric_definitions:
            if not d.name.strip():
                raise InvalidArgument("A metric definition has an empty name. Expected NAME=REGEX.",
                                      {"field": "metric_definitions"})
            try:
                groups = re.compile(d.regex).groups
            except re.error as exc:
                raise InvalidArgument(
                    f"Metric definition {d.name!r} has regex {d.regex!r}, which does not compile: {exc}.",
                    {"field": "metric_definitions", "value": d.regex},
                ) from None
            if groups < 1:
                raise InvalidArgument(
                    f"Metric definition {d.name!r} has regex {d.regex!r} without a group. Expected one group "
                    "around the value, e.g. 'Test RMSE: ([0-9.]+)'.",
                    {"field": "metric_definitions", "value": d.regex},
                )
            out.append({"name": d.name, "regex": d.regex})
        return out

    def validate(self, spec: CreateJobRequest) -> dict[str, Any]:
        """Check a job request without creating anything (datasets, label, algorithm, hyperparameters,
        script); the checked values feed ``create``. Tuning calls it once for its trial template."""
        if spec.builtin and (spec.algorithm or spec.entry_point or not spec.processing):
            raise InvalidArgument(
                f"Built-in processing ({spec.builtin!r}) is a processing job (processing=true, slipway process) "
                "without a script or algorithm.", {"field": "builtin", "value": spec.builtin})
        if bool(spec.algorithm) == bool(spec.entry_point) and not spec.builtin:
            raise InvalidArgument(
                "A job runs either a built-in algorithm or a script: pass exactly one of algorithm (--algorithm) "
                "and entry_point (--script).",
                {"field": "algorithm", "value": spec.algorithm},
            )
        views = self._resolve_inputs(spec.inputs)
        definitions = self._check_metric_definitions(spec)
        self._check_secrets(spec.secrets)
        if spec.framework is not None and spec.framework not in FRAMEWORKS:
            raise InvalidArgument(
                f"Framework {spec.framework!r} is not known. Expected one of: {', '.join(FRAMEWORKS)}.",
                {"field": "framework", "value": spec.framework, "expected": list(FRAMEWORKS)},
            )
        if spec.processing:
            self._check_processing(spec)
        elif spec.outputs or spec.arguments:
            raise InvalidArgument(
                "Output channels and arguments belong to processing jobs: pass processing=true (slipway process), "
                "or hyperparameters for a training script.",
                {"field": "outputs" if spec.outputs else "arguments", "value": spec.outputs or spec.arguments})
        if spec.builtin:
            hps, label = self._check_builtin(spec, views)
            return {"views": views, "definitions": definitions, "kind": "processing", "framework": "sklearn",
                    "hps": hps, "label": label, "problem": None}
        if spec.algorithm:
            checked = self._check_algorithm_job(spec, views)
            kind, framework, hps = "algorithm", get_algorithm(checked["algorithm"]).framework, checked["hps"]
            label, problem = checked["label"], checked["problem"]
        else:
            kind, framework, label, problem = "script", spec.framework or "sklearn", spec.label, None
            if spec.processing:
                kind = "processing"
            hps = self._check_script_hps(spec.hyperparameters)
            entry = str(spec.entry_point)
            files = self._source_files(spec.source_sha256 or "")
            if PurePosixPath(entry).is_absolute() or ".." in PurePosixPath(entry).parts or entry not in files:
                raise InvalidArgument(
                    f"Script {entry!r} not found in the uploaded source folder. Its files: "
                    f"{', '.join(sorted(files)[:20]) or 'none'}.",
                    {"field": "entry_point", "value": entry},
                )
        if self.fits is not None and (spec.cpus or spec.gpus):  # a default request fits every executor
            self.fits(Resources.asked(spec.cpus, spec.gpus, spec.memory_limit_mb))
        return {"views": views, "definitions": definitions, "kind": kind, "framework": framework, "hps": hps,
                "label": label, "problem": problem}

    def create(self, name: str, spec: CreateJobRequest, user: str = "") -> JobView:
        check_name(name, "job")
        self._refuse_existing(name)
        c = self.validate(spec)
        views, definitions, kind, framework = c["views"], c["definitions"], c["kind"], c["framework"]
        hps, label, problem = c["hps"], c["label"], c["problem"]
        inputs = {ch: {"ref": v.ref, "format": v.format, "kind": v.kind, "filename": v.filename}
                  for ch, v in views.items()}
        job = Job(
            name=name, kind=kind, algorithm=spec.algorithm if kind == "algorithm" else spec.builtin, framework=framework,
            entry_point=spec.entry_point, source_sha256=spec.source_sha256 if kind != "algorithm" else None,
            hyperparameters=hps, inputs=inputs, label=label, problem_type=problem,
            validation_split=spec.validation_split, metric_definitions=definitions,
            max_runtime=spec.max_runtime or self.settings.job_max_runtime,
            memory_limit_mb=spec.memory_limit_mb or self.settings.job_memory_limit_mb or None,
            cpus=spec.cpus, gpus=spec.gpus, secrets=list(dict.fromkeys(spec.secrets)),
            outputs={ch: {"dataset": ds} for ch, ds in spec.outputs.items()}, arguments=list(spec.arguments),
            status="Pending", secondary_status="Pending",
            transitions=[{"status": "Pending", "start_time": utcnow().isoformat(), "end_time": None, "message": ""}],
            final_metrics={}, log_offset=0, metrics_offset=0, created_by=user,
        )

        def _insert(s: Session) -> JobView:
            s.add(job)
            for ch, v in views.items():
                s.add(Reference(source_kind="job", source_id=name, target_kind="dataset_version", target_id=v.ref,
                                role=ch))
            s.flush()
            return job_view(job)

        try:
            view = self.db.run(_insert)
        except IntegrityError:
            self._refuse_existing(name)
            raise
        self.wakeup.set()
        return view

    def _check_builtin(self, spec: CreateJobRequest, views: dict[str, DatasetVersionView]) -> tuple[dict[str, Any],
                                                                                                   str | None]:
        """Built-in processing: its parameters (the hyperparameters), one tabular input (a table file, or a folder
        of CSV or Parquet files with the same columns), the columns it names."""
        from slipway.processing import check_columns, check_parameters, folder_headers

        params = check_parameters(spec.builtin, dict(spec.hyperparameters), list(spec.inputs), list(spec.outputs))
        (channel, view), = views.items()
        folder = view.kind == "folder" and view.format == "files"
        if not folder and (view.kind != "file" or view.format not in ("csv", "jsonl", "parquet")):
            raise InvalidArgument(
                f"Built-in {spec.builtin!r} reads a table (CSV, JSON lines or Parquet, or a folder of CSV or "
                f"Parquet files); input {channel!r} ({view.ref}) is {view.format or view.kind}.",
                {"field": "inputs", "value": view.ref, "expected": ["csv", "jsonl", "parquet", "files"]})
        label = params.get("label") or spec.label or view.label
        if label:
            params["label"] = label
        columns = [c.name for c in view.schema_]
        numeric = {c.name for c in view.schema_ if c.dtype.startswith(("int", "float", "uint"))}
        if folder:  # the files' own columns (each file's header), unless the version records a schema
            with self.datasets.open_seekable(view.ref) as f:
                names, nums = folder_headers(f, f"Input {channel!r} ({view.ref})")
            if not columns:
                columns, numeric = names, nums
        check_columns(str(spec.builtin), params, columns, numeric)
        return params, label

    @staticmethod
    def _check_processing(spec: CreateJobRequest) -> None:
        """A processing job runs a script; its output channels name datasets to push new versions to."""
        if spec.algorithm:
            raise InvalidArgument(
                f"A processing job runs a script (--script), not a built-in algorithm ({spec.algorithm!r}).",
                {"field": "algorithm", "value": spec.algorithm, "expected": None})
        for channel, dataset in spec.outputs.items():
            if not _CHANNEL.match(channel):
                raise InvalidArgument(
                    f"Output channel {channel!r} is not valid. Expected letters, digits, '_' or '-' (e.g. clean).",
                    {"field": "outputs", "value": channel})
            try:
                check_name(dataset)
            except InvalidArgument as exc:
                raise InvalidArgument(f"Output {channel!r}: {exc.message}", {"field": "outputs", "value": dataset}) \
                    from None
        same = sorted(set(spec.outputs) & set(spec.inputs))
        if same:
            raise InvalidArgument(
                f"Channel(s) {', '.join(same)} are both an input and an output. Give them different names.",
                {"field": "outputs", "value": same})

    def _check_secrets(self, names: list[str]) -> None:
        """Every secret a job asks for can be an environment variable and is set (values are read at start)."""
        if not names:
            return
        job_env_names(names)
        if self.secrets is None:
            raise InvalidArgument("This platform has no secret store: a job cannot take secrets.", {"field": "secrets"})
        missing = self.secrets.missing(names)
        if missing:
            raise NotFound(
                f"Secret(s) not found: {', '.join(missing)}. Set them first with: slipway secrets set NAME",
                {"field": "secrets", "missing": missing},
            )

    def _check_script_hps(self, hps: dict[str, Any]) -> dict[str, Any]:
        for k, v in hps.items():
            if not _HP_NAME.match(k):
                raise InvalidArgument(
                    f"Hyperparameter name {k!r} is not valid. Expected letters, digits, '_', '.' or '-', starting "
                    "with a letter or '_'.", {"field": f"hyperparameters.{k}", "value": k},
                )
            if not isinstance(v, (str, int, float, bool, list, dict)) and v is not None:
                raise InvalidArgument(f"Hyperparameter {k!r} has a value of type {type(v).__name__}.",
                                      {"field": f"hyperparameters.{k}"})
        return dict(hps)

    def _refuse_existing(self, name: str) -> None:
        with self.db.session() as s:
            status = s.scalar(select(Job.status).where(Job.name == name))
        if status is not None:
            raise AlreadyExists(
                f"Job {name!r} already exists (status {status}). Choose another name, or omit --name to get a "
                "generated one.",
                {"field": "name", "value": name, "status": status},
            )

    # -- reading ---------------------------------------------------------------------------------

    def _job(self, s: Session, name: str, lock: bool = False) -> Job:
        q = select(Job).where(Job.name == name)
        job = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if job is None:
            raise NotFound(f"Job {name!r} not found. See `slipway jobs list`.", {"field": "name", "value": name})
        return job

    def get(self, name: str) -> JobView:
        with self.db.session() as s:
            return job_view(self._job(s, name))

    def list(self, status: str | None = None, limit: int = 50, offset: int = 0) -> Page[JobView]:
        statuses = JOB_STATUSES
        if status is not None and status not in statuses:
            raise InvalidArgument(f"Status {status!r} is not known. Expected one of: {', '.join(statuses)}.",
                                  {"field": "status", "value": status, "expected": list(statuses)})
        with self.db.session() as s:
            q = select(Job) if status is None else select(Job).where(Job.status == status)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.execute(q.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit).offset(offset)).scalars()
            items = [job_view(j) for j in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[JobView](items=items, total=total, next_page_token=nxt)

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(Job.id))) or 0

    def metrics(self, name: str) -> JobMetrics:
        with self.db.session() as s:
            job = self._job(s, name)
            rows = s.execute(select(JobMetric).where(JobMetric.job_id == job.id).order_by(JobMetric.id)).scalars()
            series: dict[str, list[MetricPoint]] = {}
            for r in rows:
                series.setdefault(r.name, []).append(MetricPoint(value=r.value, step=r.step, timestamp=r.timestamp))
            return JobMetrics(name=name, status=job.status, final=job.final_metrics or {}, series=series)

    def job_dir(self, name: str) -> Path:
        return self.settings.jobs_dir / name

    def read_logs(self, name: str, offset: int = 0, limit: int = 1024 * 1024) -> tuple[bytes, int, str]:
        """Log bytes from ``offset`` (live from the running job, else from the store); next offset; status."""
        with self.db.session() as s:
            status = self._job(s, name).status
        local = self.job_dir(name) / "slipway" / "logs.txt"
        data = b""
        if status not in TERMINAL and local.is_file():
            with open(local, "rb") as f:
                f.seek(offset)
                data = f.read(limit)
        elif self.store.exists(logs_key(name)):
            data = self.store.read_range(logs_key(name), offset, limit)
        return data, offset + len(data), status

    def model_key(self, name: str) -> str:
        """Store key of a finished job's model archive."""
        with self.db.session() as s:
            job = self._job(s, name)
            key, status = job.model_key, job.status
        if key is None:
            raise NotFound(f"Job {name!r} has no model archive (status {status}).", {"field": "name", "value": name})
        return key

    def open_artifact(self, name: str, what: str = "model") -> tuple[str, Iterator[bytes], int]:
        """(file name, chunks, size) of a finished job's ``model`` or ``output`` archive."""
        with self.db.session() as s:
            job = self._job(s, name)
            key = job.model_key if what == "model" else job.output_key
            status = job.status
        if key is None:
            hint = " It has not finished yet." if status not in TERMINAL else ""
            raise NotFound(f"Job {name!r} has no {what} archive (status {status}).{hint}",
                           {"field": "name", "value": name, "status": status})
        return f"{name}-{what}.tar.gz", self.store.iter_chunks(key), self.store.size(key)

    # -- stopping --------------------------------------------------------------------------------

    def stop(self, name: str) -> JobView:
        def _do(s: Session) -> JobView:
            job = self._job(s, name, lock=True)  # the jobs controller may be claiming it right now
            if job.status in ("Completed", "Failed"):
                raise Conflict(f"Job {name!r} already ended ({job.status}); there is nothing to stop.",
                               {"field": "name", "value": name, "status": job.status})
            if job.status == "Pending":
                transition(job, "Stopped", "Stopped", "Stopped before it started.")
                job.ended_at = utcnow()
            elif job.status == "InProgress":
                transition(job, "Stopping", "Stopping", "Stop requested.")
                job.stop_requested_at = utcnow()
            return job_view(job)

        view = self.db.run(_do)
        self.wakeup.set()
        return view

    @staticmethod
    def now() -> dt.datetime:
        return utcnow()
