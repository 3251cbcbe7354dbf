"""Asynchronous invocations: a request body stored (encrypted) in the artifact store, queued in the database.

Callers submit with ``submit`` and read with ``get``/``result``; the async-invocation controller takes
queued requests with ``claim``, sends them through the endpoint's replicas and reports back with
``succeed``/``fail``/``retry``. A request is addressed by its endpoint and its id together: an id of
another endpoint's request is 404, as is one that does not exist. ``queued(endpoint)`` is the depth of an
endpoint's queue, for whoever scales replicas on load.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import AsyncInvocation, Endpoint
from slipway.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge
from slipway.names import check_name
from slipway.schemas.async_invocations import CALLBACK_PATTERN, AsyncInvocationView
from slipway.settings import Settings
from slipway.storage import ArtifactStore

__all__ = ["AsyncInvocationService", "Claim", "Callback", "ID_PATTERN"]

ID_PATTERN = r"^[0-9a-f]{32}$"
_ID = re.compile(ID_PATTERN)
_CALLBACK = re.compile(CALLBACK_PATTERN)
INLINE_RESULT_BYTES = 1024 * 1024
STATUSES = ("queued", "running", "succeeded", "failed")


@dataclass(frozen=True)
class Claim:
    """A request taken off the queue by the controller."""

    id: str
    endpoint: str
    content_type: str
    accept: str
    input_key: str
    attempts: int


@dataclass(frozen=True)
class Callback:
    """A callback due now: where to POST, what, and how many tries it had."""

    id: str
    url: str
    payload: dict[str, Any]
    attempts: int


class AsyncInvocationService:
    def __init__(self, db: Database, store: ArtifactStore, settings: Settings) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.wakeup = threading.Event()  # set on every submission: the controller takes it at once

    # -- callers ---------------------------------------------------------------------------------

    def submit(self, endpoint: str, body: bytes, content_type: str, accept: str = "", callback_url: str | None = None,
               user: str = "") -> AsyncInvocationView:
        check_name(endpoint, "endpoint")
        limit = self.settings.max_payload_bytes
        if len(body) > limit:
            raise PayloadTooLarge(
                f"The request body of {len(body)} bytes is over the limit of {limit} bytes ({limit / 1048576:g} MB, "
                "setting 'max_payload_bytes'). Send fewer rows per request.",
                {"field": "body", "value": len(body), "limit_bytes": limit})
        if not body:
            raise InvalidArgument("Field 'body' is empty. Expected the request to send to the model "
                                  '(e.g. {"instances": [[...]]}).', {"field": "body", "value": 0})
        if callback_url is not None and (len(callback_url) > 2048 or not _CALLBACK.match(callback_url)):
            raise InvalidArgument(
                f"Field 'callback_url' has value {callback_url[:200]!r}. Expected an http:// or https:// URL "
                "(at most 2048 characters).", {"field": "callback_url", "value": callback_url[:200]})
        self._endpoint_exists(endpoint)
        inv_id = secrets.token_hex(16)
        key = f"async-invocations/{endpoint}/{inv_id}/input"
        self.store.put(key, io.BytesIO(body))

        def _do(s: Session) -> AsyncInvocationView:
            row = AsyncInvocation(invocation_id=inv_id, endpoint=endpoint, status="queued",
                                  content_type=content_type or "application/json", accept=accept or "",
                                  input_key=key, input_bytes=len(body), variant="", model="", error="",
                                  attempts=0, callback_url=callback_url,
                                  callback_status="pending" if callback_url else None, callback_attempts=0,
                                  callback_error="", created_by=user)
            s.add(row)
            s.flush()
            return self._view(row)

        try:
            view = self.db.run(_do)
        except BaseException:
            self.store.delete(key)
            raise
        self.wakeup.set()
        return view

    def _endpoint_exists(self, name: str) -> None:
        with self.db.session() as s:
            status = s.scalar(select(Endpoint.status).where(Endpoint.name == name))
        if status is None or status == "Deleting":
            raise NotFound(
                f"Endpoint {name!r} not found. Deploy it first: slipway endpoints deploy {name} --model MODEL:N",
                {"field": "name", "value": name})

    def _row(self, s: Session, endpoint: str, inv_id: str) -> AsyncInvocation:
        check_name(endpoint, "endpoint")
        if not _ID.match(inv_id):
            raise InvalidArgument(f"Field 'id' has value {inv_id[:80]!r}. Expected the 32 hexadecimal digits "
                                  "returned when the request was submitted.", {"field": "id", "value": inv_id[:80]})
        row = s.execute(select(AsyncInvocation).where(AsyncInvocation.invocation_id == inv_id)).scalar_one_or_none()
        if row is None or row.endpoint != endpoint:  # another endpoint's request is not found here either
            raise NotFound(f"Endpoint {endpoint!r} has no asynchronous invocation {inv_id!r}.",
                           {"field": "id", "value": inv_id, "endpoint": endpoint})
        return row

    def get(self, endpoint: str, inv_id: str) -> AsyncInvocationView:
        with self.db.session() as s:
            return self._view(self._row(s, endpoint, inv_id), with_result=True)

    def result(self, endpoint: str, inv_id: str) -> tuple[bytes, str]:
        """The answer body and its content type; 409 until the request succeeded."""
        with self.db.session() as s:
            row = self._row(s, endpoint, inv_id)
            status, key, ctype, error = row.status, row.output_key, row.output_content_type, row.error
        if status != "succeeded" or not key:
            why = f": {error}" if error else ""
            raise Conflict(f"Asynchronous invocation {inv_id} of endpoint {endpoint!r} is {status}{why}; "
                           "a result exists once it succeeded.", {"id": inv_id, "status": status})
        with self.store.open(key) as f:
            return f.read(), ctype or "application/octet-stream"

    def queued(self, endpoint: str) -> int:
        """Requests of ``endpoint`` waiting for a replica (not yet sent): what an autoscaler counts."""
        with self.db.session() as s:
            return s.scalar(select(func.count(AsyncInvocation.id)).where(
                AsyncInvocation.endpoint == endpoint, AsyncInvocation.status == "queued")) or 0

    def recent(self, endpoint: str, limit: int = 20) -> list[AsyncInvocationView]:
        """An endpoint's newest requests first (without their results): what its dashboard page lists."""
        check_name(endpoint, "endpoint")
        with self.db.session() as s:
            rows = s.execute(select(AsyncInvocation).where(AsyncInvocation.endpoint == endpoint)
                             .order_by(AsyncInvocation.id.desc()).limit(limit)).scalars().all()
            return [self._view(r) for r in rows]

    def _view(self, row: AsyncInvocation, with_result: bool = False) -> AsyncInvocationView:
        result = None
        if (with_result and row.status == "succeeded" and row.output_key
                and (row.output_content_type or "").startswith("application/json")):
            try:
                if self.store.size(row.output_key) <= INLINE_RESULT_BYTES:
                    with self.store.open(row.output_key) as f:
                        result = orjson.loads(f.read())
            except (NotFound, orjson.JSONDecodeError):
                result = None
        return AsyncInvocationView(
            id=row.invocation_id, endpoint=row.endpoint, status=row.status, content_type=row.content_type,
            input_bytes=row.input_bytes, created_at=row.created_at, created_by=row.created_by,
            started_at=row.started_at, finished_at=row.finished_at, attempts=row.attempts, variant=row.variant,
            model=row.model, http_status=row.http_status, error=row.error,
            result_url=f"{self.settings.url}/endpoints/{row.endpoint}/async-invocations/{row.invocation_id}/result",
            output_content_type=row.output_content_type, result=result, callback_url=row.callback_url,
            callback_status=row.callback_status, callback_attempts=row.callback_attempts,
            callback_error=row.callback_error)

    # -- the controller --------------------------------------------------------------------------

    def requeue_running(self) -> int:
        """At start: requests a stopped (or crashed) server left running go back to the queue."""
        def _do(s: Session) -> int:
            res = s.execute(update(AsyncInvocation).where(AsyncInvocation.status == "running")
                            .values(status="queued", started_at=None, retry_at=None))
            return int(res.rowcount or 0)

        return self.db.run(_do)

    def claim(self, endpoint: str, limit: int) -> list[Claim]:
        """Take up to ``limit`` queued requests of ``endpoint``, oldest first, and mark them running."""
        if limit <= 0:
            return []
        now = utcnow()

        def _do(s: Session) -> list[Claim]:
            rows = s.execute(
                select(AsyncInvocation).where(AsyncInvocation.endpoint == endpoint, AsyncInvocation.status == "queued",
                                              (AsyncInvocation.retry_at.is_(None)) | (AsyncInvocation.retry_at <= now))
                .order_by(AsyncInvocation.id).limit(limit).with_for_update(skip_locked=True)).scalars().all()
            out = []
            for r in rows:
                r.status, r.started_at, r.attempts = "running", now, r.attempts + 1
                out.append(Claim(r.invocation_id, r.endpoint, r.content_type, r.accept, r.input_key, r.attempts))
            return out

        return self.db.run(_do)

    def waiting_endpoints(self) -> dict[str, int]:
        """Endpoints with queued requests, and how many each."""
        with self.db.session() as s:
            rows = s.execute(select(AsyncInvocation.endpoint, func.count(AsyncInvocation.id))
                             .where(AsyncInvocation.status == "queued").group_by(AsyncInvocation.endpoint)).all()
        return {e: int(n) for e, n in rows}

    def read_input(self, claim: Claim) -> bytes:
        with self.store.open(claim.input_key) as f:
            return f.read()

    def succeed(self, inv_id: str, body: bytes, content_type: str, status: int, variant: str, model: str) -> None:
        with self.db.session() as s:
            endpoint = s.scalar(select(AsyncInvocation.endpoint).where(AsyncInvocation.invocation_id == inv_id))
        if endpoint is None:
            return
        key = f"async-invocations/{endpoint}/{inv_id}/output"
        self.store.put(key, io.BytesIO(body))
        self._finish(inv_id, "succeeded", status=status, variant=variant, model=model, output_key=key,
                     output_content_type=content_type)

    def fail(self, inv_id: str, error: str, status: int | None = None, variant: str = "", model: str = "") -> None:
        self._finish(inv_id, "failed", status=status, variant=variant, model=model, error=error[:4000])

    def _finish(self, inv_id: str, outcome: str, status: int | None, variant: str, model: str, error: str = "",
                output_key: str | None = None, output_content_type: str | None = None) -> None:
        def _do(s: Session) -> str | None:
            row = s.execute(select(AsyncInvocation).where(AsyncInvocation.invocation_id == inv_id)).scalar_one_or_none()
            if row is None:
                return None
            row.status, row.http_status, row.variant, row.model, row.error = outcome, status, variant, model, error
            row.output_key, row.output_content_type, row.finished_at = output_key, output_content_type, utcnow()
            row.retry_at = None
            if row.callback_url:
                row.callback_status, row.callback_next_at = "pending", utcnow()
            return row.input_key

        key = self.db.run(_do)
        if key:
            self.store.delete(key)  # the body is no longer needed once answered

    def retry(self, inv_id: str, error: str, max_attempts: int = 5) -> bool:
        """Back to the queue after a transient failure (the replica was overloaded or went away), with a
        backoff; failed for good after ``max_attempts``. True when it was queued again."""
        def _do(s: Session) -> bool:
            row = s.execute(select(AsyncInvocation).where(AsyncInvocation.invocation_id == inv_id)).scalar_one_or_none()
            if row is None:
                return False
            if row.attempts >= max_attempts:
                return False
            row.status, row.started_at, row.error = "queued", None, error[:4000]
            row.retry_at = utcnow() + dt.timedelta(seconds=min(30.0, 0.5 * 2 ** row.attempts))
            return True

        if self.db.run(_do):
            return True
        self.fail(inv_id, f"gave up after {max_attempts} attempts: {error}")
        return False

    def fail_orphans(self) -> int:
        """Queued requests of endpoints that no longer exist (deleted meanwhile) fail with the reason."""
        waiting = self.waiting_endpoints()
        if not waiting:
            return 0
        with self.db.session() as s:
            live = set(s.execute(select(Endpoint.name).where(Endpoint.name.in_(list(waiting)),
                                                             Endpoint.status != "Deleting")).scalars())
        gone = [e for e in waiting if e not in live]
        n = 0
        for e in gone:
            with self.db.session() as s:
                ids = list(s.execute(select(AsyncInvocation.invocation_id).where(
                    AsyncInvocation.endpoint == e, AsyncInvocation.status == "queued")).scalars())
            for i in ids:
                self.fail(i, f"endpoint {e!r} was deleted before the request was answered")
                n += 1
        return n

    def due_callbacks(self, limit: int, exclude: set[str]) -> list[Callback]:
        now = utcnow()
        with self.db.session() as s:
            rows = s.execute(
                select(AsyncInvocation).where(AsyncInvocation.callback_status == "pending",
                                              AsyncInvocation.status.in_(("succeeded", "failed")),
                                              AsyncInvocation.callback_next_at <= now)
                .order_by(AsyncInvocation.callback_next_at).limit(limit + len(exclude))).scalars().all()
            out = []
            for r in rows:
                if r.invocation_id in exclude or r.callback_url is None:
                    continue
                view = self._view(r, with_result=True)
                payload: dict[str, Any] = {"id": view.id, "endpoint": view.endpoint, "status": view.status,
                                           "result_url": view.result_url}
                if view.status == "succeeded":
                    payload["result"] = view.result
                    payload["output_content_type"] = view.output_content_type
                else:
                    payload["error"] = view.error
                out.append(Callback(r.invocation_id, r.callback_url, payload, r.callback_attempts))
            return out[:limit]

    def callback_done(self, inv_id: str, error: str | None) -> None:
        """Record one delivery attempt: delivered, retried later (1 s, 2 s, 4 s, …) or failed for good."""
        def _do(s: Session) -> None:
            row = s.execute(select(AsyncInvocation).where(AsyncInvocation.invocation_id == inv_id)).scalar_one_or_none()
            if row is None:
                return
            row.callback_attempts += 1
            if error is None:
                row.callback_status, row.callback_error, row.callback_next_at = "delivered", "", None
            elif row.callback_attempts >= self.settings.async_callback_attempts:
                row.callback_status, row.callback_next_at = "failed", None
                row.callback_error = f"{error} (gave up after {row.callback_attempts} attempts)"[:4000]
            else:
                row.callback_error = error[:4000]
                row.callback_next_at = utcnow() + dt.timedelta(seconds=min(300.0, 2.0 ** (row.callback_attempts - 1)))

        self.db.run(_do)
