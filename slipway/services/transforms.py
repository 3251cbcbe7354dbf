"""Batch transform: a model version's predictions over a whole dataset version, kept as a new dataset version.

SageMaker's semantics where they apply: the input is split by line (``SplitType Line``; ``None`` sends it
whole), rows go in mini-batches of at most ``batch`` rows (``BatchStrategy MultiRecord``/``MaxRecords``)
and ``max_payload_mb`` (``MaxPayloadInMB``), ``parallel`` requests at once (``MaxConcurrentTransforms``),
the output is assembled by line in input order (``AssembleWith Line``) and joined to the input rows
(``JoinSource Input``) unless ``join`` is off. The input filter drops the dataset's label column.

The model runs in temporary replicas started by the serving runtime (the same sandboxed processes as
endpoints; untrusted code never runs in the server) and stopped when the job ends, whatever the outcome.
A batch the replica refuses (4xx: the input does not match the signature) fails the job at once with the
replica's message and the input rows of that batch (the row it names when it names one); a transient
failure (connection, 5xx, 429) is retried ``retries`` times with backoff.
"""

from __future__ import annotations

import io
import logging
import tempfile
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import Reference, TransformJob
from slipway.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from slipway.names import check_name
from slipway.schemas import Page
from slipway.schemas.transforms import TransformRequest, TransformView

if TYPE_CHECKING:
    import pandas as pd

    from slipway.services.datasets import DatasetService
    from slipway.services.registry import RegistryService
    from slipway.serving.runtime import ReplicaHandle, ServingRuntime
    from slipway.settings import Settings

__all__ = ["TransformService", "BatchRefused"]

log = logging.getLogger("slipway.transforms")
FINAL = ("Completed", "Failed", "Stopped")
SPLITTABLE = ("csv", "jsonl")


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
                 runtime: Any = None, buckets: Any = None) -> None:
        self.db = db
        self.datasets = datasets
        self.registry = registry
        self.settings = settings
        self._runtime = runtime  # a callable giving the ServingRuntime (created on first use)
        self._buckets = buckets  # a callable giving the BucketService (S3 objects in, S3 objects out)
        self.wakeup = threading.Event()
        self.stopping = threading.Event()  # set when the server stops

    @property
    def runtime(self) -> ServingRuntime:
        return self._runtime()  # type: ignore[no-any-return]

    # -- callers ---------------------------------------------------------------------------------

    def create(self, name: str, req: TransformRequest, user: str = "") -> TransformView:
        check_name(name, "transform")
        check_name(req.output, "dataset")
        check_name(req.channel, "channel")
        model = self.registry.resolve(req.model)
        data = self.datasets.get(req.data)
        if data.format not in SPLITTABLE:
            raise InvalidArgument(
                f"Dataset {data.ref!r} has format {data.format!r}. Expected one of {', '.join(SPLITTABLE)} "
                "(rows split by line).", {"field": "data", "value": data.ref, "format": data.format})
        options = req.model_dump(include={"split", "batch", "parallel", "max_payload_mb", "join", "retries"})

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
        try:
            job = self.get(name)
            if "s3" in job.options:
                self._run_objects(name, job, handles)
                return
            t0 = time.perf_counter()
            frame, label, lines = self._load(job.data)
            names = [i.get("name") for i in (self.registry.get(job.model).signature or {}).get("inputs", [])]
            payloads = self._batches(frame, label, job.options, names)
            self._set(name, rows_total=len(frame), batches_total=len(payloads))
            t1 = time.perf_counter()
            handles = self._start_replicas(name, job.model)
            t2 = time.perf_counter()
            answers = self._send(name, handles, payloads, job.options)
            t3 = time.perf_counter()
            out_ref = self._assemble(job, frame, answers, lines)
            log.info("Transform %s: read and split %.2f s, replica start %.2f s, requests %.2f s, output %.2f s",
                        name, t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3)
            self._set(name, status="Completed", output_version=out_ref, finished_at=utcnow(), rows_done=len(frame),
                      batches_done=len(payloads))
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
            if handles:
                self.runtime.stop(handles)

    def _load(self, ref: str) -> tuple[pd.DataFrame, str | None, list[bytes] | None]:
        """The rows, the label column, and a CSV's lines as stored (header first) when there is one per row."""
        import pandas as pd

        view, chunks = self.datasets.open_content(ref)
        raw = b"".join(chunks)
        lines: list[bytes] | None = None
        if view.format == "csv":
            frame = pd.read_csv(io.BytesIO(raw))
            lines = [ln.rstrip(b"\r") for ln in raw.split(b"\n")]
            while lines and not lines[-1]:
                lines.pop()
            if len(lines) != len(frame) + 1:  # quoted newlines, blank lines: join through pandas instead
                lines = None
        else:
            frame = pd.read_json(io.BytesIO(raw), lines=True)
        return frame, view.label, lines

    def _batches(self, frame: pd.DataFrame, label: str | None, options: dict[str, Any],
                 names: list[str] | None = None) -> list[tuple[int, int, bytes, str]]:
        """(first row, end row, body, content type) per request: the input filter drops the label column.

        Columns that are the signature's own, in its order, all numbers and no gaps go as JSON
        ``{"instances": [[…]]}`` (the replica's fast path); anything else as CSV with its header, which the
        replica checks against the signature (and explains what does not match).
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
            if fast is not None:
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
        answers = self._send(name, handles, payloads, job.options, accept=spec.get("accept") or "",
                             extra={SAGEMAKER_HEADER: "1"})
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

        from slipway.compat.errors import AwsError

        buckets = self._buckets()
        try:
            buckets.bucket(bucket)
        except AwsError:
            try:
                buckets.create_bucket(bucket, user)
            except AwsError:  # made meanwhile
                pass
        buckets.put(bucket, key, io.BytesIO(body), hashlib.md5(body, usedforsecurity=False).hexdigest(),
                    content_type.split(",", 1)[0].strip() or "application/octet-stream", user)

    def _send(self, name: str, handles: list[ReplicaHandle], payloads: list[tuple[int, int, bytes, str]],
              options: dict[str, Any], accept: str = "application/json",
              extra: dict[str, str] | None = None) -> list[bytes]:
        import httpx

        answers: list[bytes | None] = [None] * len(payloads)
        parallel = int(options["parallel"])
        retries = int(options["retries"])
        done = {"batches": 0, "rows": 0, "retries": 0}
        lock = threading.Lock()
        cancelled = threading.Event()
        local = threading.local()
        opened: list[httpx.Client] = []  # one per worker thread, closed when the job ends
        timeout = self.settings.invocation_timeout + 5.0

        def client(h: ReplicaHandle) -> httpx.Client:
            c = getattr(local, "client", None)
            if c is None:
                transport = httpx.HTTPTransport(uds=h.uds) if h.uds else None
                c = httpx.Client(transport=transport, timeout=timeout)
                local.client = c
                with lock:
                    opened.append(c)
            return c

        def one(i: int) -> None:
            start, end, body, ctype = payloads[i]
            h = handles[i % len(handles)]
            url = "http://replica/invocations" if h.uds else f"{h.url}/invocations"
            last = ""
            for attempt in range(retries + 1):
                if cancelled.is_set():
                    return
                try:
                    resp = client(h).post(url, content=body, headers={"content-type": ctype, "accept": accept,
                                                                        **(extra or {})})
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                else:
                    if resp.status_code == 200:
                        answers[i] = resp.content
                        with lock:
                            done["batches"] += 1
                            done["rows"] += end - start
                        return
                    message, details = _error(resp.content)
                    if 400 <= resp.status_code < 500 and resp.status_code != 429:
                        row = details.get("row") if isinstance(details, dict) else None
                        rows = [start + row] if isinstance(row, int) and 0 <= row < end - start else list(
                            range(start, end))
                        where = f"rows {start}-{end - 1}" if end - start > 1 else f"row {start}"
                        raise BatchRefused(f"The model refused the request with input {where} "
                                           f"(HTTP {resp.status_code}): {message}", rows)
                    last = f"HTTP {resp.status_code}: {message}"
                if attempt < retries:
                    with lock:
                        done["retries"] += 1
                    time.sleep(min(5.0, 0.25 * 2 ** attempt))
            raise RuntimeError(f"The request with input rows {start}-{end - 1} failed after {retries + 1} tries: {last}")

        pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=f"transform-{name}")
        try:
            futures = [pool.submit(one, i) for i in range(len(payloads))]
            pending = set(futures)
            while pending:
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
            for c in opened:
                c.close()
        return [a or b"" for a in answers]

    def _assemble(self, job: TransformView, frame: pd.DataFrame, answers: list[bytes],
                  lines: list[bytes] | None = None) -> str:
        """The output CSV in input order: each input line as stored, then its prediction (AssembleWith Line)."""
        import pandas as pd

        preds: list[dict[str, Any]] = []
        for body in answers:
            preds.extend(_flatten(p) for p in orjson.loads(body)["predictions"])
        if len(preds) != len(frame):
            raise RuntimeError(f"The model gave {len(preds)} predictions for {len(frame)} rows.")
        keys = list(dict.fromkeys(k for p in preds[:1000] for k in p))
        join = job.options.get("join", True)
        header = [f"prediction_{k}" if join and k in frame.columns else k for k in keys]
        self.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="transform-", suffix=".csv", dir=self.settings.tmp_dir)
        with open(fd, "wb") as f:
            if join and lines is None:  # no line per row to reuse: let pandas write both parts
                out = pd.concat([frame.reset_index(drop=True), pd.DataFrame(preds, columns=keys).set_axis(header, axis=1)],
                                axis=1)
                out.to_csv(f, index=False)
            else:
                head = ",".join(_cell(h) for h in header).encode()
                rows = (",".join(_cell(p.get(k)) for k in keys).encode() for p in preds)
                if join:
                    assert lines is not None
                    f.write(lines[0] + b"," + head + b"\n")
                    f.writelines(line + b"," + row + b"\n" for line, row in zip(lines[1:], rows))
                else:
                    f.write(head + b"\n")
                    f.writelines(row + b"\n" for row in rows)
        pushed = self.datasets.push(job.output, Path(tmp), filename="predictions.csv", format="csv",
                                    description=f"predictions of {job.model} on {job.data}", user=job.created_by)
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
    return TransformView(name=r.name, model=r.model, data=r.data, channel=r.channel, output=r.output,
                         options=r.options or {}, status=r.status, failure_reason=r.failure_reason,
                         failed_rows=r.failed_rows, rows_total=r.rows_total, rows_done=r.rows_done,
                         batches_total=r.batches_total, batches_done=r.batches_done, retries=r.retries,
                         output_version=r.output_version, created_at=r.created_at, created_by=r.created_by,
                         started_at=r.started_at, finished_at=r.finished_at)
