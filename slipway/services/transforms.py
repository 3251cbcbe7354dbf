"""Batch transform: a model version's predictions over a whole dataset version, kept as a new dataset version.

SageMaker's semantics where they apply: the input is split by line (``SplitType Line``; ``None`` sends it
whole), rows go in mini-batches of at most ``batch`` rows (``BatchStrategy MultiRecord``/``MaxRecords``)
and ``max_payload_mb`` (``MaxPayloadInMB``), ``parallel`` requests at once (``MaxConcurrentTransforms``),
the output is assembled by line in input order (``AssembleWith Line``) and joined to the input rows
(``JoinSource Input``) unless ``join`` is off. The input filter drops the dataset's label column.

A folder dataset (``text-folder``, ``image-folder``, ``files``) is read file by file: with ``split`` none
(its default) each file is one request, sent whole with a content type from its extension (an image to a
model whose ``input_fn`` takes it, a JSON or CSV body), and the replica's answer is kept as ``<file>.out``;
with ``split`` line each ``.csv`` or ``.jsonl`` file is cut in mini-batches of rows and ``<file>.out`` holds
what the transform of that file alone gives (its rows joined to their predictions). The output is a folder
dataset version whose file names match the inputs (SageMaker's ``.out`` convention).

The model runs in temporary replicas started by the serving runtime (the same sandboxed processes as
endpoints; untrusted code never runs in the server) and stopped when the job ends, whatever the outcome.
With ``endpoint`` the requests go instead through that endpoint's gateway route (its variants by weight,
its replicas, its queue at zero replicas) and count as its load for its autoscaler; nothing is started.
A batch the replica refuses (4xx: the input does not match the signature) fails the job at once with the
replica's message and the input rows of that batch (the row it names when it names one); a transient
failure (connection, 5xx, 429) is retried ``retries`` times with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import mimetypes
import re
import shutil
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway.data import FOLDER_FORMATS
from slipway.db import Database, utcnow
from slipway.db.models import Reference, TransformJob
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound, SlipwayError
from slipway.names import check_name
from slipway.schemas import Page
from slipway.schemas.transforms import TransformRequest, TransformView

if TYPE_CHECKING:
    import pandas as pd

    from slipway.services.datasets import DatasetService
    from slipway.services.endpoints import EndpointService
    from slipway.services.registry import RegistryService
    from slipway.serving.runtime import ReplicaHandle, ServingRuntime
    from slipway.settings import Settings

__all__ = ["TransformService", "BatchRefused"]

log = logging.getLogger("slipway.transforms")
FINAL = ("Completed", "Failed", "Stopped")
SPLITTABLE = ("csv", "jsonl")
LINE_FILES = (".csv", ".jsonl")  # files of a folder that split line cuts in rows
TRANSIENT = (429, 502, 503, 504)


class BatchRefused(Exception):
    """The model refused a batch (4xx): the job fails with this message and these input rows."""

    def __init__(self, message: str, rows: list[int]) -> None:
        super().__init__(message)
        self.message, self.rows = message, rows


class _Stopped(Exception):
    pass


class _Interrupted(Exception):
    """The server is stopping: the job stays InProgress and starts again at the next start."""


class TransformService:
    def __init__(self, db: Database, datasets: DatasetService, registry: RegistryService, settings: Settings,
                 runtime: Any = None, buckets: Any = None, endpoints: Any = None) -> None:
        self.db = db
        self.datasets = datasets
        self.registry = registry
        self.settings = settings
        self._runtime = runtime  # a callable giving the ServingRuntime (created on first use)
        self._buckets = buckets  # a callable giving the BucketService (S3 objects in, S3 objects out)
        self._endpoints = endpoints  # a callable giving the EndpointService
        # Requests in flight (queued at the gateway included) per endpoint, for its autoscaler.
        self._endpoint_load: dict[str, int] = {}
        self._load_lock = threading.Lock()
        self.wakeup = threading.Event()
        self.stopping = threading.Event()  # set when the server stops

    @property
    def runtime(self) -> ServingRuntime:
        return self._runtime()  # type: ignore[no-any-return]

    @property
    def endpoints(self) -> EndpointService:
        return self._endpoints()  # type: ignore[no-any-return]

    def endpoint_load(self, endpoint: str) -> int:
        """Transform requests to ``endpoint`` in flight on this server now (waiting in its queue included)."""
        return self._endpoint_load.get(endpoint, 0)

    # -- callers ---------------------------------------------------------------------------------

    def create(self, name: str, req: TransformRequest, user: str = "") -> TransformView:
        check_name(name, "transform")
        check_name(req.output, "dataset")
        check_name(req.channel, "channel")
        if (req.model is None) == (req.endpoint is None):
            given = "both" if req.model else "neither"
            raise InvalidArgument(f"A transform job takes a model version or an endpoint; {given} was given. "
                                  "Expected one: model (cancer:1) or endpoint (cancer-ep).",
                                  {"field": "model", "value": req.model, "endpoint": req.endpoint})
        if req.endpoint is not None:
            model = self._endpoint_models(req.endpoint)[0]
        else:
            model = self.registry.resolve(req.model or "")
        data = self.datasets.get(req.data)
        folder = data.format in FOLDER_FORMATS
        if data.format not in SPLITTABLE and not folder:
            raise InvalidArgument(
                f"Dataset {data.ref!r} has format {data.format!r}. Expected one of {', '.join(SPLITTABLE)} "
                f"(rows split by line) or a folder ({', '.join(FOLDER_FORMATS)}).",
                {"field": "data", "value": data.ref, "format": data.format})
        options = req.model_dump(include={"split", "batch", "parallel", "max_payload_mb", "join", "retries"})
        options["split"] = req.split or ("none" if folder else "line")
        if req.endpoint is not None:
            options["endpoint"] = req.endpoint

        def _do(s: Session) -> TransformView:
            if s.execute(select(TransformJob.id).where(TransformJob.name == name)).first() is not None:
                raise AlreadyExists(f"Transform job {name!r} already exists. Pick another name.",
                                    {"field": "name", "value": name})
            row = TransformJob(name=name, model=model, data=data.ref, channel=req.channel, output=req.output,
                               options=options, status="Pending", failure_reason="", rows_total=data.rows or 0,
                               rows_done=0, batches_total=0, batches_done=0, retries=0, stop_requested=False,
                               created_by=user)
            s.add(row)
            s.flush()
            return _view(row)

        view = self.db.run(_do)
        self.wakeup.set()
        return view

    def create_for_objects(self, name: str, model: str, source: str, spec: dict[str, Any],
                           user: str = "") -> TransformView:
        """A transform over S3 objects, written back as objects, as SageMaker's CreateTransformJob does.

        ``spec``: ``inputs`` [{bucket, key, out}] (``out`` the output object's key), ``output_bucket``,
        ``output_uri`` (shown as the job's output once it completes: channel ``s3`` marks such a job),
        ``content_type``, ``accept``, ``split`` (line|none), ``strategy`` (MultiRecord|SingleRecord),
        ``max_payload_mb``, ``assemble`` (line|none), ``join`` (each output line after its input line,
        comma-separated), ``parallel``, ``retries`` (of a request failing for a transient reason). Each object's answers, in input order, become its ``out`` object.
        """
        check_name(name, "transform")
        model = self.registry.resolve(model)
        if not spec.get("inputs"):
            raise InvalidArgument(f"No input objects under {source!r}. Upload the data first.",
                                  {"field": "inputs", "value": source})
        options = {"s3": spec, "parallel": int(spec.get("parallel", 1)), "retries": int(spec.get("retries", 3))}

        def _do(s: Session) -> TransformView:
            if s.execute(select(TransformJob.id).where(TransformJob.name == name)).first() is not None:
                raise AlreadyExists(f"Transform job {name!r} already exists. Pick another name.",
                                    {"field": "name", "value": name})
            row = TransformJob(name=name, model=model, data=source[:255], channel="s3", output=name,
                               options=options, status="Pending", failure_reason="", rows_total=0, rows_done=0,
                               batches_total=0, batches_done=0, retries=0, stop_requested=False, created_by=user)
            s.add(row)
            s.flush()
            return _view(row)

        view = self.db.run(_do)
        self.wakeup.set()
        return view

    def _row(self, s: Session, name: str) -> TransformJob:
        check_name(name, "transform")
        row = s.execute(select(TransformJob).where(TransformJob.name == name)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"Transform job {name!r} not found. List them with: slipway transforms list",
                           {"field": "name", "value": name})
        return row

    def get(self, name: str) -> TransformView:
        with self.db.session() as s:
            return _view(self._row(s, name))

    def list(self, limit: int = 50, offset: int = 0) -> Page[TransformView]:
        with self.db.session() as s:
            total = s.scalar(select(func.count(TransformJob.id))) or 0
            rows = s.execute(select(TransformJob).order_by(TransformJob.id.desc()).limit(limit).offset(offset)
                             ).scalars().all()
            items = [_view(r) for r in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[TransformView](items=items, total=total, next_page_token=nxt)

    def stop(self, name: str) -> TransformView:
        def _do(s: Session) -> TransformView:
            row = self._row(s, name)
            if row.status in FINAL:
                raise Conflict(f"Transform job {name!r} is already {row.status}.", {"field": "name", "value": name,
                                                                                   "status": row.status})
            row.stop_requested = True
            if row.status == "Pending":
                row.status, row.finished_at = "Stopped", utcnow()
            else:
                row.status = "Stopping"
            return _view(row)

        return self.db.run(_do)

    # -- the controller --------------------------------------------------------------------------

    def recover(self) -> int:
        """At start: jobs a stopped server left running start again from the beginning."""
        def _do(s: Session) -> int:
            res = s.execute(update(TransformJob).where(TransformJob.status == "InProgress")
                            .values(status="Pending", rows_done=0, batches_done=0))
            s.execute(update(TransformJob).where(TransformJob.status == "Stopping")
                      .values(status="Stopped", finished_at=utcnow()))
            return int(res.rowcount or 0)

        return self.db.run(_do)

    def claim(self, limit: int) -> list[str]:
        if limit <= 0:
            return []

        def _do(s: Session) -> list[str]:
            rows = s.execute(select(TransformJob).where(TransformJob.status == "Pending").order_by(TransformJob.id)
                             .limit(limit).with_for_update(skip_locked=True)).scalars().all()
            for r in rows:
                r.status, r.started_at = "InProgress", utcnow()
            return [r.name for r in rows]

        return self.db.run(_do)

    def _set(self, name: str, **values: Any) -> None:
        self.db.run(lambda s: s.execute(update(TransformJob).where(TransformJob.name == name).values(**values)))

    def _stop_requested(self, name: str) -> bool:
        with self.db.session() as s:
            return bool(s.scalar(select(TransformJob.stop_requested).where(TransformJob.name == name)))

    def run(self, name: str) -> None:
        """Run one claimed job to its end (Completed, Failed or Stopped); never raises."""
        handles: list[ReplicaHandle] = []
        sender: _Sender | None = None
        work: Path | None = None
        starting: Future[list[ReplicaHandle]] | None = None
        held = contextlib.ExitStack()
        try:
            job = self.get(name)
            if not job.options.get("endpoint"):
                # The warm spare this job's replica takes is replaced when the job ends, not while it runs.
                defer = getattr(self.runtime, "standby_deferred", None)
                if defer is not None:
                    held.enter_context(defer())
            if "s3" in job.options:
                self._run_objects(name, job, handles)
                return
            t0 = time.perf_counter()
            stream: _Stream | None = None
            endpoint = job.options.get("endpoint")
            if not endpoint:  # the replica starts while the input is read and cut
                starting = _background(self._start_replicas, name, job.model)
            models = self._endpoint_models(endpoint) if endpoint else [job.model]
            sigs = [self.registry.get(m).signature or {} for m in models]
            names = _input_names(sigs)
            npy = names is not None and _all_float(sigs)
            view = self.datasets.get(job.data)
            if view.format in FOLDER_FORMATS:
                work = Path(tempfile.mkdtemp(prefix="transform-", dir=self._tmp()))
                files, payloads, where = self._folder_batches(job.data, work, view.label, job.options, names, npy)
                rows = sum(f.rows for f in files)
                parse = job.options["split"] == "line"
            else:
                _, chunks = self.datasets.open_content(job.data)
                raw = b"".join(chunks)
                # A CSV of one row per line is read and cut block by block while the first batches are sent.
                stream = _Stream.of(raw, view.format, view.label, job.options, names, npy, self._batches)
                if stream is not None:
                    frame, label, lines, payloads, rows = None, view.label, stream.lines, stream.payloads, stream.rows
                else:
                    frame, lines = _parse(raw, view.format)
                    label = view.label
                    payloads = self._batches(frame, label, job.options, names, npy)
                    rows = len(frame)
                del raw
                where = None
                # Each answer becomes its rows of the output CSV in the sending thread, as it arrives, while the
                # replica works on the next batches: the output is then a concatenation.
                parse = _Chunker(lines, payloads, bool(job.options.get("join", True)))
            self._set(name, rows_total=rows, batches_total=stream.estimate if stream is not None else len(payloads))
            t1 = time.perf_counter()
            if endpoint:
                sender = _ViaEndpoint(self, endpoint)
            else:
                assert starting is not None
                handles, starting = starting.result(), None
                sender = _ToReplicas(handles, self.settings.invocation_timeout + 5.0)
            t2 = time.perf_counter()
            answers = self._send(name, sender, payloads, job.options, where, parse, stream)
            t3 = time.perf_counter()
            if work is not None:
                out_ref = self._assemble_folder(job, work, files, answers)
            else:
                if stream is not None:
                    frame = stream.frame()
                assert frame is not None
                out_ref = self._assemble(job, frame, answers, lines)
            overlap = f" (read and cut {stream.seconds:.2f} s of it in blocks while sending)" if stream else ""
            log.info("Transform %s: read and split %.2f s, replica start %.2f s, requests %.2f s%s, output %.2f s",
                     name, t1 - t0, t2 - t1, t3 - t2, overlap, time.perf_counter() - t3)
            self._set(name, status="Completed", output_version=out_ref, finished_at=utcnow(), rows_done=rows,
                      batches_done=len(payloads), batches_total=len(payloads))
        except _Stopped:
            self._set(name, status="Stopped", finished_at=utcnow())
        except _Interrupted:
            log.info("Transform %s interrupted by the server stopping; it starts again at the next start", name)
        except BatchRefused as exc:
            log.info("Transform %s failed: %s", name, exc.message)
            self._set(name, status="Failed", failure_reason=exc.message[:4000], failed_rows=exc.rows[:1000],
                      finished_at=utcnow())
        except Exception as exc:
            if self.stopping.is_set():
                log.info("Transform %s interrupted by the server stopping (%s)", name, exc)
                return
            reason = exc.message if hasattr(exc, "message") else f"{type(exc).__name__}: {exc}"
            log.warning("Transform %s failed: %s", name, reason, exc_info=not hasattr(exc, "message"))
            self._set(name, status="Failed", failure_reason=str(reason)[:4000], finished_at=utcnow())
        finally:
            if sender is not None:
                sender.close()
            if starting is not None:  # failed before using them
                try:
                    handles = starting.result()
                except Exception:
                    handles = []
            if handles:
                self.runtime.stop(handles)
            held.close()
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)

    def _tmp(self) -> Path:
        self.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        return self.settings.tmp_dir

    def _endpoint_models(self, endpoint: str) -> list[str]:
        """The model versions of an endpoint's variants (the first is the job's model, for lineage)."""
        view = self.endpoints.get(endpoint)
        spec = view.live or view.desired or {}
        models = [v["model"] for v in spec.get("variants", [])]
        if not models:
            raise InvalidArgument(f"Endpoint {endpoint!r} serves no model.", {"field": "endpoint", "value": endpoint})
        return models

    def _folder_batches(self, ref: str, work: Path, label: str | None, options: dict[str, Any],
                        names: list[str] | None, npy: bool = False) -> tuple[list[_File], list[tuple[int, int, bytes, str]], Any]:
        """A folder version's files (unpacked under ``work/in``) and the requests: a file whole per request
        (split none) or each .csv/.jsonl file's rows in mini-batches (split line); rows count across files."""
        from slipway.data import iter_folder_files, unpack_folder

        src = work / "in"
        src.mkdir()
        _, chunks = self.datasets.open_content(ref)
        packed = work / "in.tar"
        with open(packed, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
        unpack_folder(packed, src)
        packed.unlink()
        limit = min(int(options["max_payload_mb"] * 1024 * 1024), self.settings.max_payload_bytes)
        files: list[_File] = []
        payloads: list[tuple[int, int, bytes, str]] = []
        row = 0
        for path in iter_folder_files(src):
            rel = path.relative_to(src).as_posix()
            if options["split"] == "none":
                body = path.read_bytes()
                if len(body) > limit:
                    raise InvalidArgument(
                        f"File {rel!r} makes a request of {len(body)} bytes, over the limit of {limit} bytes "
                        "(max_payload_mb, and the setting 'max_payload_bytes').",
                        {"field": "max_payload_mb", "value": options["max_payload_mb"], "file": rel})
                files.append(_File(rel, row, 1, len(payloads), len(payloads) + 1))
                payloads.append((row, row + 1, body, _content_type(rel)))
                row += 1
                continue
            if not rel.lower().endswith(LINE_FILES):
                raise InvalidArgument(
                    f"File {rel!r} of dataset {ref} cannot be split by line. Expected {' or '.join(LINE_FILES)} "
                    "files, or split none (each file whole in one request).",
                    {"field": "split", "value": "line", "file": rel})
            frame, lines = _parse(path.read_bytes(), "csv" if rel.lower().endswith(".csv") else "jsonl")
            first = len(payloads)
            if len(frame):
                payloads.extend((row + s, row + e, body, ct) for s, e, body, ct in
                                self._batches(frame, label, options, names, npy))
            files.append(_File(rel, row, len(frame), first, len(payloads), frame, lines))
            row += len(frame)
        if not files:
            raise InvalidArgument(f"Dataset {ref} has no files.", {"field": "data", "value": ref})

        def where(start: int, end: int) -> str:
            f = next(f for f in files if f.row <= start < f.row + max(1, f.rows))
            if options["split"] == "none":
                return f"file {f.name!r}"
            a, b = start - f.row, end - 1 - f.row
            return f"file {f.name!r} rows {a}-{b}" if b > a else f"file {f.name!r} row {a}"

        return files, payloads, where

    def _batches(self, frame: pd.DataFrame, label: str | None, options: dict[str, Any],
                 names: list[str] | None = None, npy: bool = False) -> list[tuple[int, int, bytes, str]]:
        """(first row, end row, body, content type) per request: the input filter drops the label column.

        Columns that are the signature's own, in its order, all numbers and no gaps go as a float64 ``.npy``
        array when every input of the signature is a float (``npy``: the replica reads it without parsing a
        value), else as JSON ``{"instances": [[…]]}`` (the replica's fast path); anything else as CSV with its
        header, which the replica checks against the signature (and explains what does not match).
        """
        import numpy as np

        features = frame.drop(columns=[label]) if label and label in frame.columns else frame
        fast: np.ndarray | None = None
        if names and list(features.columns) == names and all(k in "fi" for k in features.dtypes.map(lambda d: d.kind)):
            arr = np.ascontiguousarray(features.to_numpy(dtype=np.float64))
            if np.isfinite(arr).all():
                fast = arr
        limit = min(int(options["max_payload_mb"] * 1024 * 1024), self.settings.max_payload_bytes)
        size = len(features) if options["split"] == "none" else int(options["batch"])
        out: list[tuple[int, int, bytes, str]] = []

        def add(start: int, end: int) -> None:
            if fast is not None and npy:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, fast[start:end], allow_pickle=False)
                body, ctype = buf.getvalue(), "application/x-npy"
            elif fast is not None:
                body = orjson.dumps({"instances": fast[start:end]}, option=orjson.OPT_SERIALIZE_NUMPY)
                ctype = "application/json"
            else:
                body, ctype = features.iloc[start:end].to_csv(index=False).encode(), "text/csv"
            if len(body) <= limit:
                out.append((start, end, body, ctype))
            elif end - start == 1 or options["split"] == "none":
                raise InvalidArgument(
                    f"Rows {start}-{end - 1} make a request of {len(body)} bytes, over the limit of {limit} bytes "
                    "(max_payload_mb, and the setting 'max_payload_bytes').",
                    {"field": "max_payload_mb", "value": options["max_payload_mb"], "limit_bytes": limit})
            else:  # MaxPayloadInMB wins over MaxRecords: cut the batch in two
                mid = (start + end) // 2
                add(start, mid)
                add(mid, end)

        for start in range(0, len(features), max(1, size)):
            add(start, min(start + size, len(features)))
        if not out:
            raise InvalidArgument("The input dataset has no rows.", {"field": "data"})
        return out

    def _start_replicas(self, name: str, model: str) -> list[ReplicaHandle]:
        view, key = self.registry.artifact(model)
        folder = self.runtime.model_dir(view.ref, key, view.sha256)
        h = self.runtime.spawn(f"transform-{name}", "primary", model, folder, {})
        try:
            self.runtime.wait_ready([h])
        except BaseException:
            self.runtime.stop([h])
            raise
        return [h]

    # -- S3 objects in and out (SageMaker's CreateTransformJob) ------------------------------------

    def _run_objects(self, name: str, job: TransformView, handles: list[ReplicaHandle]) -> None:
        from slipway.artifacts.handlers import SAGEMAKER_HEADER

        spec = job.options["s3"]
        buckets = self._buckets()
        records: list[bytes] = []
        payloads: list[tuple[int, int, bytes, str]] = []
        spans: list[tuple[int, int]] = []  # each object's payloads
        for item in spec["inputs"]:
            _, chunks = buckets.open(item["bucket"], item["key"])
            first = len(payloads)
            payloads += self._object_batches(b"".join(chunks), spec, records, item["key"])
            spans.append((first, len(payloads)))
        self._set(name, rows_total=len(records), batches_total=len(payloads))
        handles.extend(self._start_replicas(name, job.model))
        sender = _ToReplicas(handles, self.settings.invocation_timeout + 5.0, accept=spec.get("accept") or "",
                             extra={SAGEMAKER_HEADER: "1"})
        try:
            answers = self._send(name, sender, payloads, job.options)
        finally:
            sender.close()
        for item, (first, end) in zip(spec["inputs"], spans, strict=True):
            body = self._assemble_object(spec, payloads[first:end], answers[first:end], records)
            self._write_object(spec["output_bucket"], item["out"], body, spec.get("accept") or "", job.created_by)
        self._set(name, status="Completed", finished_at=utcnow(), rows_done=len(records), batches_done=len(payloads),
                  output_version=str(spec.get("output_uri") or "")[:255] or None)

    def _object_batches(self, raw: bytes, spec: dict[str, Any], records: list[bytes],
                        key: str) -> list[tuple[int, int, bytes, str]]:
        """One object's requests (first record, end record, body, content type); its records go on ``records``."""
        limit = min(int(float(spec["max_payload_mb"]) * 1024 * 1024), self.settings.max_payload_bytes)
        ctype = spec.get("content_type") or "application/octet-stream"
        start = len(records)
        if spec["split"] == "none":
            records.append(raw)
            if len(raw) > limit:
                raise InvalidArgument(f"Object {key!r} is {len(raw)} bytes, over the limit of {limit} bytes per "
                                      "request (MaxPayloadInMB, and the setting 'max_payload_bytes'); use SplitType "
                                      "Line.", {"field": "MaxPayloadInMB", "value": spec["max_payload_mb"]})
            return [(start, start + 1, raw, ctype)]
        lines = [ln.rstrip(b"\r") for ln in raw.split(b"\n")]
        records.extend(ln for ln in lines if ln.strip())
        out: list[tuple[int, int, bytes, str]] = []
        single = spec.get("strategy") == "SingleRecord"
        i, end = start, len(records)
        while i < end:
            j, size = i, 0
            while j < end and (j == i or (not single and size + 1 + len(records[j]) <= limit)):
                size += len(records[j]) + (1 if j > i else 0)
                j += 1
            if size > limit:
                raise InvalidArgument(f"Record {i - start + 1} of object {key!r} is {size} bytes, over the limit of "
                                      f"{limit} bytes per request (MaxPayloadInMB, and the setting "
                                      "'max_payload_bytes').", {"field": "MaxPayloadInMB", "value": spec["max_payload_mb"]})
            out.append((i, j, b"\n".join(records[i:j]), ctype))
            i = j
        return out

    @staticmethod
    def _assemble_object(spec: dict[str, Any], payloads: list[tuple[int, int, bytes, str]], answers: list[bytes],
                         records: list[bytes]) -> bytes:
        """AssembleWith Line: the answers one after another, each ending a line (joined after their input lines
        with JoinSource Input); None: the answers' bytes concatenated."""
        if spec.get("join"):
            lines: list[bytes] = []
            for (start, end, _, _), answer in zip(payloads, answers, strict=True):
                outs = answer.rstrip(b"\n").split(b"\n")
                if len(outs) != end - start:
                    raise RuntimeError(f"The model gave {len(outs)} output lines for {end - start} input records "
                                       "(JoinSource Input needs one per record).")
                lines += [rec + b"," + o.rstrip(b"\r") for rec, o in zip(records[start:end], outs, strict=True)]
            return b"\n".join(lines) + b"\n" if lines else b""
        if spec.get("assemble") == "line":
            return b"".join(a if a.endswith(b"\n") else a + b"\n" for a in answers)
        return b"".join(answers)

    def _write_object(self, bucket: str, key: str, body: bytes, content_type: str, user: str) -> None:
        import hashlib

        from slipway.services.buckets import BucketError

        buckets = self._buckets()
        try:
            buckets.bucket(bucket)
        except BucketError:
            try:
                buckets.create_bucket(bucket, user)
            except BucketError:  # made meanwhile
                pass
        buckets.put(bucket, key, io.BytesIO(body), hashlib.md5(body, usedforsecurity=False).hexdigest(),
                    content_type.split(",", 1)[0].strip() or "application/octet-stream", user)

    def _send(self, name: str, sender: _Sender, payloads: list[tuple[int, int, bytes, str]],
              options: dict[str, Any], where: Any = None, parse: Any = False, feed: _Stream | None = None) -> list[Any]:
        """Each payload's answer, as sent back or (``parse``) its predictions, parsed by the sending threads
        (``parse`` a ``_Chunker``: made into output rows there too). ``feed``: adds the rest of ``payloads``,
        a block at a time, called here while the first ones are sent (in input order, as they come)."""
        answers: list[Any] = [None] * len(payloads)
        parallel = int(options["parallel"])
        retries = int(options["retries"])
        done = {"batches": 0, "rows": 0, "retries": 0}
        lock = threading.Lock()
        cancelled = threading.Event()

        def one(i: int) -> None:
            start, end, body, ctype = payloads[i]
            last = ""
            for attempt in range(retries + 1):
                if cancelled.is_set():
                    return
                try:
                    status, content = sender.post(i, body, ctype)
                except _Transient as exc:
                    last = str(exc)
                else:
                    if status == 200:
                        if parse:
                            preds = orjson.loads(content)["predictions"]
                            answers[i] = parse(i, preds) if isinstance(parse, _Chunker) else preds
                        else:
                            answers[i] = content
                        with lock:
                            done["batches"] += 1
                            done["rows"] += end - start
                        return
                    message, details = _error(content)
                    if 400 <= status < 500 and status != 429:
                        row = details.get("row") if isinstance(details, dict) else None
                        rows = [start + row] if isinstance(row, int) and 0 <= row < end - start else list(
                            range(start, end))
                        place = where(start, end) if where is not None else (
                            f"rows {start}-{end - 1}" if end - start > 1 else f"row {start}")
                        raise BatchRefused(f"The model refused the request with input {place} "
                                           f"(HTTP {status}): {message}", rows)
                    last = f"HTTP {status}: {message}"
                if attempt < retries:
                    with lock:
                        done["retries"] += 1
                    time.sleep(min(5.0, 0.25 * 2 ** attempt))
            place = where(start, end) if where is not None else f"rows {start}-{end - 1}"
            raise RuntimeError(f"The request with input {place} failed after {retries + 1} tries: {last}")

        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=f"transform-{name}")
        try:
            futures = [pool.submit(one, i) for i in range(len(payloads))]
            pending = set(futures)
            feeding = feed is not None and not feed.done
            while pending or feeding:
                if feeding:
                    assert feed is not None
                    feed.next_block()  # parsed and cut here while the pool sends what is there
                    answers.extend([None] * (len(payloads) - len(answers)))
                    new = [pool.submit(one, i) for i in range(len(futures), len(payloads))]
                    futures += new
                    pending.update(new)
                    feeding = not feed.done
                    finished = {f for f in pending if f.done()}
                    pending -= finished
                    if not any(f.exception() is not None for f in finished) and feeding:
                        continue
                else:
                    finished, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
                with lock:
                    progress = dict(done)
                self._set(name, batches_done=progress["batches"], rows_done=progress["rows"],
                          retries=progress["retries"])
                if any(f.exception() is not None for f in finished):
                    cancelled.set()
                    pool.shutdown(wait=True, cancel_futures=True)
                    # The first error in input order (batches in flight finish first), not the first in time.
                    raise next(f.exception() for f in futures  # type: ignore[misc]
                               if f.done() and not f.cancelled() and f.exception() is not None)
                if self._stop_requested(name):
                    cancelled.set()
                    raise _Stopped()
                if self.stopping.is_set():
                    cancelled.set()
                    raise _Interrupted()
        finally:
            cancelled.set()
            pool.shutdown(wait=True, cancel_futures=True)
        return [b"" if a is None else a for a in answers]

    def _assemble(self, job: TransformView, frame: pd.DataFrame, answers: list[Any],
                  lines: list[bytes] | None = None) -> str:
        """The output CSV in input order: each input line as stored, then its prediction (AssembleWith Line).

        Written in memory (the input is there already) and pushed in one streaming pass (hash, encrypt, store
        and inspect the same blocks): no temp file written and read back, no second read to inspect it."""
        out = io.BytesIO()
        _write_csv(out, frame, answers, lines, bool(job.options.get("join", True)))
        out.seek(0)
        return self._push(job, out, "predictions.csv", "file", "csv")

    def _assemble_folder(self, job: TransformView, work: Path, files: list[_File], answers: list[Any]) -> str:
        """The output folder: ``<input file>.out`` per input file (the answer as the model gave it, or for
        split line the file's rows joined to their predictions, as CSV), pushed as a ``files`` version."""
        from slipway.data import pack_folder

        out = work / "out"
        join = bool(job.options.get("join", True))
        for f in files:
            target = out / f"{f.name}.out"
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                if f.frame is None:
                    fh.write(answers[f.first])
                else:
                    _write_csv(fh, f.frame, answers[f.first:f.end], f.lines, join)
        packed = work / "out.tar"
        with open(packed, "wb") as fh:
            pack_folder(out, fh)
        return self._push(job, packed, "predictions", "folder", "files")

    def _push(self, job: TransformView, data: Path | io.BytesIO, filename: str, kind: str, fmt: str) -> str:
        source = f"endpoint {job.endpoint}" if job.endpoint else job.model
        description = f"predictions of {source} on {job.data}"
        if isinstance(data, Path):
            pushed = self.datasets.push(job.output, data, filename=filename, kind=kind, format=fmt,
                                        description=description, user=job.created_by)
        else:
            pushed = self.datasets.push_stream(job.output, data, filename=filename, kind=kind, format=fmt,
                                               description=description, user=job.created_by)
        ref = pushed.version.ref

        def _lineage(s: Session) -> None:
            s.add(Reference(source_kind="transform", source_id=job.name, target_kind="dataset_version",
                            target_id=job.data, role=job.channel))
            s.add(Reference(source_kind="transform", source_id=job.name, target_kind="model_version",
                            target_id=job.model, role="model"))
            s.add(Reference(source_kind="dataset_version", source_id=ref, target_kind="dataset_version",
                            target_id=job.data, role=f"transform {job.name}"))

        self.db.run(_lineage)
        return ref


def _background(fn: Any, *args: Any) -> Future[Any]:
    """``fn(*args)`` in a thread of its own; the future holds its result."""
    fut: Future[Any] = Future()

    def run() -> None:
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:
            fut.set_exception(exc)

    threading.Thread(target=run, name="transform-start", daemon=True).start()
    return fut


def _parse(raw: bytes, fmt: str) -> tuple[pd.DataFrame, list[bytes] | None]:
    """A CSV or JSON-lines body's rows, and a CSV's lines as stored (header first) when there is one per row."""
    import pandas as pd

    lines: list[bytes] | None = None
    if fmt == "csv":
        frame = pd.read_csv(io.BytesIO(raw))
        lines = raw.split(b"\n")
        if b"\r" in raw:  # CRLF line ends: the lines as stored without them
            lines = [ln.rstrip(b"\r") for ln in lines]
        while lines and not lines[-1]:
            lines.pop()
        if len(lines) != len(frame) + 1:  # quoted newlines, blank lines: join through pandas instead
            lines = None
    else:
        frame = pd.read_json(io.BytesIO(raw), lines=True)
    return frame, lines


_BLANK = re.compile(rb"\n[ \t\r\f\v]*\n")  # a line of nothing but whitespace (not the last)


class _Stream:
    """A CSV of one row per line (no quoted field, no blank line: ``of`` checks), read by pandas a block of lines
    at a time and cut in mini-batches, so that the first batches go to the replica while the rest is read.

    Blocks are whole numbers of batches: the batches are those of the whole file. Each block is read with the
    header, as the whole file would be (its types are the block's own; the values sent are the same numbers).
    A block whose rows are not all numbers goes as CSV, as the whole file would. A bad line is reported by
    reading the whole file, as before (its line number)."""

    def __init__(self, raw: bytes, lines: list[bytes], label: str | None, options: dict[str, Any],
                 names: list[str] | None, npy: bool, batches: Any) -> None:
        self.raw, self.lines, self.label, self.options, self.names, self.npy = raw, lines, label, options, names, npy
        self.batches = batches
        self.rows = len(lines) - 1
        batch = max(1, int(options["batch"]))
        self.estimate = -(-self.rows // batch)
        self.first = batch * max(1, int(options["parallel"]))  # rows of the first block: a batch per sender
        self.block = batch * max(1, 8_000 // batch)  # rows of the next ones
        self.at = 0
        self.frames: list[pd.DataFrame] = []
        self.payloads: list[tuple[int, int, bytes, str]] = []
        self.seconds = 0.0

    @classmethod
    def of(cls, raw: bytes, fmt: str, label: str | None, options: dict[str, Any], names: list[str] | None,
           npy: bool, batches: Any) -> _Stream | None:
        """The stream, its first block read; None when the whole file must be read first (not a CSV, split
        none, quotes, blank lines, a first block that does not go as the signature's numbers)."""
        if fmt != "csv" or options["split"] != "line" or not names or b'"' in raw:
            return None
        lines = raw.split(b"\n")
        if b"\r" in raw:
            lines = [ln.rstrip(b"\r") for ln in lines]
        while lines and not lines[-1]:
            lines.pop()
        if len(lines) < 2 or not lines[0].strip() or not lines[-1].strip() or _BLANK.search(raw):
            return None  # pandas skips blank (and blank-looking) lines: a line would not be a row
        stream = cls(raw, lines, label, options, names, npy, batches)
        stream.next_block()
        if not stream.payloads or stream.payloads[0][3] == "text/csv":
            return None  # not the fast path: the whole file decides how its batches go, as before
        return stream

    @property
    def done(self) -> bool:
        return self.at >= self.rows

    def next_block(self) -> None:
        import pandas as pd

        t0 = time.perf_counter()
        a = self.at
        b = min(self.rows, a + (self.first if a == 0 else self.block))
        body = b"\n".join(self.lines[a:b + 1]) if a == 0 else self.lines[0] + b"\n" + b"\n".join(
            self.lines[1 + a:1 + b])
        try:
            frame = pd.read_csv(io.BytesIO(body))
        except (pd.errors.ParserError, ValueError):
            pd.read_csv(io.BytesIO(self.raw))  # the whole file names the bad line
            raise
        if len(frame) != b - a:
            raise RuntimeError(f"Rows {a}-{b - 1} of the input read as {len(frame)} rows, not one per line.")
        frame.index = pd.RangeIndex(a, b)
        self.frames.append(frame)
        self.payloads.extend((a + s, a + e, data, ct) for s, e, data, ct in
                             self.batches(frame, self.label, self.options, self.names, self.npy))
        self.at = b
        self.seconds += time.perf_counter() - t0

    def frame(self) -> pd.DataFrame:
        import pandas as pd

        return self.frames[0] if len(self.frames) == 1 else pd.concat(self.frames)


def _write_csv(f: Any, frame: pd.DataFrame, answers: list[Any], lines: list[bytes] | None, join: bool) -> None:
    """Predictions as CSV in input order, after each input line as stored when joined (AssembleWith Line).

    ``answers``: each request's answer body, or its predictions already parsed."""
    import pandas as pd

    if answers and all(isinstance(a, _Chunk) and a.names is not None for a in answers) and len(
            {a.names for a in answers}) == 1 and sum(len(a.preds) for a in answers) == len(frame):
        # every batch already written as output rows, all of one shape: a header, then their bytes in order
        names = answers[0].names
        header = [f"prediction_{k}" if join and k in frame.columns else k for k in names]
        head = ",".join(_cell(h) for h in header).encode()
        f.write((lines[0] + b"," + head if join and lines is not None else head) + b"\n")
        f.writelines(a.body for a in answers)
        return
    raw: list[Any] = []
    for body in answers:
        if isinstance(body, _Chunk):
            raw.extend(body.preds)
        else:
            raw.extend(orjson.loads(body)["predictions"] if isinstance(body, bytes) else body)
    if len(raw) != len(frame):
        raise RuntimeError(f"The model gave {len(raw)} predictions for {len(frame)} rows.")
    fast = _columns(raw) if lines is not None or not join else None
    if fast is not None:  # column by column, no Python call per row
        names, cols = fast
        header = [f"prediction_{k}" if join and k in frame.columns else k for k in names]
        head = ",".join(_cell(h) for h in header).encode()
        rows = "\n".join(map(",".join, zip(*cols))).encode().split(b"\n") if raw else []
        if join:
            assert lines is not None
            f.write(lines[0] + b"," + head + b"\n")
            body = b"\n".join(map(b",".join, zip(lines[1:], rows)))
        else:
            f.write(head + b"\n")
            body = b"\n".join(rows)
        if body:
            f.write(body + b"\n")
        return
    preds = [_flatten(p) for p in raw]
    if len(preds) != len(frame):
        raise RuntimeError(f"The model gave {len(preds)} predictions for {len(frame)} rows.")
    keys = list(dict.fromkeys(k for p in preds[:1000] for k in p))
    header = [f"prediction_{k}" if join and k in frame.columns else k for k in keys]
    if join and lines is None:  # no line per row to reuse: let pandas write both parts
        out = pd.concat([frame.reset_index(drop=True), pd.DataFrame(preds, columns=keys).set_axis(header, axis=1)],
                        axis=1)
        out.to_csv(f, index=False)
        return
    head = ",".join(_cell(h) for h in header).encode()
    rows = (",".join(_cell(p.get(k)) for k in keys).encode() for p in preds)
    if join:
        assert lines is not None
        f.write(lines[0] + b"," + head + b"\n")
        f.writelines(line + b"," + row + b"\n" for line, row in zip(lines[1:], rows))
    else:
        f.write(head + b"\n")
        f.writelines(row + b"\n" for row in rows)


def _columns(preds: list[Any]) -> tuple[list[str], list[list[str]]] | None:
    """Predictions of one shape (the same keys, numbers or plain text, probabilities of the same classes) as
    CSV cells column by column, as ``_flatten`` and ``_cell`` write them row by row; None for any other shape."""
    if not preds or not isinstance(preds[0], dict):
        return None
    first = preds[0]
    # The same keys: as many as the first's, each of the first's present (a KeyError otherwise).
    if set(map(type, preds)) != {dict} or set(map(len, preds)) != {len(first)}:
        return None
    names: list[str] = []
    cols: list[list[str]] = []
    for k, v in first.items():
        try:
            values = [p[k] for p in preds]
        except KeyError:
            return None
        if k == "probabilities" and isinstance(v, dict):
            if set(map(type, values)) != {dict} or set(map(len, values)) != {len(v)}:
                return None
            for c in v:
                try:
                    col = _text_cells([d[c] for d in values])
                except KeyError:
                    return None
                if col is None:
                    return None
                names.append(f"probability_{c}")
                cols.append(col)
            continue
        col = _text_cells(values)
        if col is None:
            return None
        names.append(k)
        cols.append(col)
    return names, cols


def _text_cells(values: list[Any]) -> list[str] | None:
    kinds = set(map(type, values))
    if kinds <= {float, int}:
        return list(map(repr, values))  # round-trip exact, as _cell writes them
    if kinds == {str}:
        if any("\n" in v or "\r" in v for v in values):
            return None  # a quoted newline would cut the rows apart
        cells = {v: _cell(v) for v in set(values)}  # labels: a few distinct values
        return list(map(cells.__getitem__, values))
    return None


class _Chunk:
    """One batch's answer: its predictions and, when they are of one shape (``names`` the columns), its rows of
    the output CSV (each input line as stored, joined, then the prediction's cells), ready to be concatenated."""

    __slots__ = ("names", "body", "preds")

    def __init__(self, names: tuple[str, ...] | None, body: bytes, preds: list[Any]) -> None:
        self.names, self.body, self.preds = names, body, preds


class _Chunker:
    """Makes each batch's predictions its ``_Chunk`` (called by the sending threads, as ``_write_csv`` would
    write those rows)."""

    def __init__(self, lines: list[bytes] | None, payloads: list[tuple[int, int, bytes, str]], join: bool) -> None:
        self.lines, self.payloads, self.join = lines, payloads, join

    def __call__(self, i: int, preds: list[Any]) -> _Chunk:
        start, end = self.payloads[i][0], self.payloads[i][1]
        fast = _columns(preds) if len(preds) == end - start and (self.lines is not None or not self.join) else None
        if fast is None:
            return _Chunk(None, b"", preds)
        names, cols = fast
        text = "\n".join(map(",".join, zip(*cols))).encode()
        if self.join:
            assert self.lines is not None
            body = b"\n".join(map(b",".join, zip(self.lines[1 + start:1 + end], text.split(b"\n"))))
        else:
            body = text
        return _Chunk(tuple(names), body + b"\n", preds)


class _File:
    """One input file of a folder: its rows' place among all rows, its requests' span, its rows when split."""

    __slots__ = ("name", "row", "rows", "first", "end", "frame", "lines")

    def __init__(self, name: str, row: int, rows: int, first: int, end: int, frame: Any = None,
                 lines: list[bytes] | None = None) -> None:
        self.name, self.row, self.rows, self.first, self.end = name, row, rows, first, end
        self.frame, self.lines = frame, lines


def _content_type(name: str) -> str:
    """A file's media type from its extension (a request sends the file whole)."""
    lower = name.lower()
    known = {".json": "application/json", ".csv": "text/csv", ".npy": "application/x-npy",
             ".jsonl": "application/jsonlines", ".txt": "text/plain"}
    for ext, ctype in known.items():
        if lower.endswith(ext):
            return ctype
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _input_names(signatures: list[dict[str, Any]]) -> list[str] | None:
    """The input names every model shares (the JSON fast path), or None when they differ."""
    found = [[i.get("name") for i in sig.get("inputs", [])] for sig in signatures]
    return found[0] if found and all(f == found[0] for f in found) else None


def _all_float(signatures: list[dict[str, Any]]) -> bool:
    """Every input of every signature is a float: a float64 .npy body reads as the model's own input."""
    inputs = [i for sig in signatures for i in sig.get("inputs", [])]
    return bool(inputs) and all(sig.get("input_kind", "tabular") == "tabular" for sig in signatures) and all(
        str(i.get("dtype", "float64")).startswith("float") for i in inputs)


class _Transient(Exception):
    """A request that did not get an answer (connection, queue full, no replica yet): tried again."""


class _Sender:
    def post(self, i: int, body: bytes, ctype: str) -> tuple[int, bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _ToReplicas(_Sender):
    """Straight to the job's own replicas, round robin, a keep-alive connection per thread."""

    def __init__(self, handles: list[ReplicaHandle], timeout: float, accept: str = "application/json",
                 extra: dict[str, str] | None = None) -> None:
        self.handles, self.timeout = handles, timeout
        self.headers = {"accept": accept, **(extra or {})}
        self.local = threading.local()
        self.clients: list[Any] = []
        self.lock = threading.Lock()

    def post(self, i: int, body: bytes, ctype: str) -> tuple[int, bytes]:
        import httpx

        h = self.handles[i % len(self.handles)]
        clients = getattr(self.local, "clients", None)
        if clients is None:
            clients = self.local.clients = {}
        c = clients.get(h.replica_id)
        if c is None:
            c = clients[h.replica_id] = httpx.Client(
                transport=httpx.HTTPTransport(uds=h.uds) if h.uds else None, timeout=self.timeout)
            with self.lock:
                self.clients.append(c)
        url = "http://replica/invocations" if h.uds else f"{h.url}/invocations"
        try:
            resp = c.post(url, content=body, headers={"content-type": ctype, **self.headers})
        except httpx.HTTPError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        return resp.status_code, resp.content

    def close(self) -> None:
        for c in self.clients:
            c.close()


class _ViaEndpoint(_Sender):
    """Through an endpoint's route, as its gateway sends any invocation (variants by weight, the replica with the
    fewest requests in flight, the queue while none is ready); in flight, each request is counted as the
    endpoint's load (``TransformService.endpoint_load``) for its autoscaler."""

    def __init__(self, service: TransformService, endpoint: str) -> None:
        from slipway.serving.gateway import Gateway

        self.service, self.endpoint = service, endpoint
        self.gateway = Gateway(service.runtime)
        service.runtime.senders.add(self.gateway)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"transform-{endpoint}", daemon=True)
        self.thread.start()

    def _count(self, delta: int) -> None:
        s = self.service
        with s._load_lock:
            n = s._endpoint_load.get(self.endpoint, 0) + delta
            if n:
                s._endpoint_load[self.endpoint] = n
            else:
                s._endpoint_load.pop(self.endpoint, None)

    def post(self, i: int, body: bytes, ctype: str) -> tuple[int, bytes]:
        self._count(1)
        wake = self.service.runtime.on_demand
        if wake is not None:
            wake(self.endpoint)  # the autoscaler looks now (a job's requests are load, also at zero replicas)
        try:
            fut = asyncio.run_coroutine_threadsafe(
                self.gateway.invoke(self.endpoint, body, ctype, "application/json", None, None), self.loop)
            result = fut.result()
        except SlipwayError as exc:
            if exc.status_code in TRANSIENT:
                raise _Transient(exc.message) from None
            return exc.status_code, orjson.dumps({"error": {"message": exc.message}})
        finally:
            self._count(-1)
        if result is None:
            raise _Transient(f"endpoint {self.endpoint!r} has no route (not in service)")
        return result.status, result.body

    def close(self) -> None:
        self.service.runtime.senders.discard(self.gateway)
        try:
            asyncio.run_coroutine_threadsafe(self.gateway.aclose(), self.loop).result(5.0)
        except Exception:
            log.debug("Closing the transform's gateway connections failed", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        self.loop.close()


def _flatten(p: Any) -> dict[str, Any]:
    """One prediction as columns: label, confidence, probability_<class> (or value, cluster, …)."""
    if not isinstance(p, dict):
        return {"prediction": p}
    out: dict[str, Any] = {}
    for k, v in p.items():
        if k == "probabilities" and isinstance(v, dict):
            out.update({f"probability_{c}": x for c, x in v.items()})
        elif isinstance(v, (list, dict)):
            out[k] = orjson.dumps(v).decode()
        else:
            out[k] = v
    return out


def _cell(v: Any) -> str:
    """One CSV field: numbers as Python writes them (round-trip exact), text quoted when it must be."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"\n\r') else s


def _error(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        err = orjson.loads(body).get("error", {})
        return str(err.get("message", "")), err.get("details") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return body[:1000].decode("utf-8", "replace"), {}


def _view(r: TransformJob) -> TransformView:
    return TransformView(name=r.name, model=r.model, endpoint=(r.options or {}).get("endpoint"), data=r.data, channel=r.channel, output=r.output,
                         options=r.options or {}, status=r.status, failure_reason=r.failure_reason,
                         failed_rows=r.failed_rows, rows_total=r.rows_total, rows_done=r.rows_done,
                         batches_total=r.batches_total, batches_done=r.batches_done, retries=r.retries,
                         output_version=r.output_version, created_at=r.created_at, created_by=r.created_by,
                         started_at=r.started_at, finished_at=r.finished_at)
