"""The async-invocation queue as a service: submit, claim, requeue after a crash, retry, callbacks, bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from slipway.db.models import AsyncInvocation, Endpoint
from slipway.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge
from slipway.services import Platform


def _endpoint(p: Platform, name: str) -> None:
    p.db.run(lambda s: s.add(Endpoint(name=name, status="InService", desired={}, live=None, generation=1)))


def _row(p: Platform, inv_id: str) -> AsyncInvocation:
    from sqlalchemy import select

    with p.db.session() as s:
        row = s.execute(select(AsyncInvocation).where(AsyncInvocation.invocation_id == inv_id)).scalar_one()
        s.expunge(row)
        return row


def test_queue_claim_crash_requeue_and_result(platform: Platform) -> None:
    svc = platform.async_invocations
    _endpoint(platform, "ep")
    _endpoint(platform, "other")
    a = svc.submit("ep", b'{"instances": [[1]]}', "application/json", user="alice")
    b = svc.submit("ep", b'{"instances": [[2]]}', "application/json")
    assert (a.status, a.created_by, a.input_bytes) == ("queued", "alice", 20)
    assert svc.queued("ep") == 2 and svc.queued("other") == 0
    stored = platform.store.list("async-invocations/ep/")
    with platform.store.inner.open(stored[0]) as raw:  # type: ignore[attr-defined]
        assert len(stored) == 2 and b'"instances"' not in raw.read()  # encrypted at rest

    [claim] = svc.claim("ep", 1)
    assert claim.id == a.id and svc.read_input(claim) == b'{"instances": [[1]]}'
    assert svc.get("ep", a.id).status == "running" and svc.queued("ep") == 1
    assert svc.requeue_running() == 1  # the server died with it in flight
    assert svc.get("ep", a.id).status == "queued" and svc.queued("ep") == 2

    claims = svc.claim("ep", 5)
    assert [c.id for c in claims] == [a.id, b.id] and claims[0].attempts == 2
    with pytest.raises(Conflict, match="is running"):
        svc.result("ep", a.id)
    svc.succeed(a.id, b'{"predictions": [1]}', "application/json", 200, "primary", "m:1")
    view = svc.get("ep", a.id)
    assert (view.status, view.result, view.http_status, view.model) == ("succeeded", {"predictions": [1]}, 200, "m:1")
    assert svc.result("ep", a.id) == (b'{"predictions": [1]}', "application/json")
    assert platform.store.list(f"async-invocations/ep/{a.id}/") == [f"async-invocations/ep/{a.id}/output"]

    assert svc.retry(b.id, "the replica answered 503", max_attempts=5)  # transient: queued, not before a backoff
    assert svc.get("ep", b.id).status == "queued" and svc.claim("ep", 5) == []
    assert not svc.retry(b.id, "again", max_attempts=1)
    failed = svc.get("ep", b.id)
    assert failed.status == "failed" and "gave up after 1 attempts: again" in failed.error


def test_unknown_ids_other_endpoints_ids_and_bad_input(platform: Platform) -> None:
    svc = platform.async_invocations
    _endpoint(platform, "ep")
    _endpoint(platform, "other")
    a = svc.submit("ep", b"1,2", "text/csv")
    with pytest.raises(NotFound, match="has no asynchronous invocation"):
        svc.get("other", a.id)  # an id of another endpoint's request
    with pytest.raises(NotFound, match="has no asynchronous invocation"):
        svc.get("ep", "0" * 32)
    with pytest.raises(InvalidArgument, match="Field 'id' has value 'nope'"):
        svc.get("ep", "nope")
    with pytest.raises(NotFound, match="Endpoint 'missing' not found"):
        svc.submit("missing", b"1", "text/csv")
    with pytest.raises(InvalidArgument, match="Field 'body' is empty"):
        svc.submit("ep", b"", "text/csv")
    with pytest.raises(PayloadTooLarge, match="max_payload_bytes"):
        svc.submit("ep", b"x" * (platform.settings.max_payload_bytes + 1), "text/csv")
    with pytest.raises(InvalidArgument, match="Field 'callback_url' has value 'ftp://x'"):
        svc.submit("ep", b"1", "text/csv", callback_url="ftp://x")


def test_callbacks_back_off_then_fail_visibly_and_orphans_fail(platform: Platform) -> None:
    svc = platform.async_invocations
    _endpoint(platform, "ep")
    a = svc.submit("ep", b"1", "text/csv", callback_url="http://127.0.0.1:9/hook")
    assert svc.due_callbacks(10, set()) == []  # not before it is answered
    svc.claim("ep", 1)
    svc.fail(a.id, "Row 0: expected 30 features", 400)
    [cb] = svc.due_callbacks(10, set())
    assert cb.payload == {"id": a.id, "endpoint": "ep", "status": "failed", "error": "Row 0: expected 30 features",
                          "result_url": svc.get("ep", a.id).result_url}
    before = dt.datetime.now(dt.UTC)
    svc.callback_done(a.id, "ConnectError: refused")
    row = _row(platform, a.id)
    assert row.callback_status == "pending" and row.callback_next_at is not None and row.callback_next_at > before
    assert svc.due_callbacks(10, set()) == []  # backing off
    for _ in range(platform.settings.async_callback_attempts - 1):
        svc.callback_done(a.id, "ConnectError: refused")
    view = svc.get("ep", a.id)
    assert view.callback_status == "failed" and "gave up after 5 attempts" in view.callback_error

    b = svc.submit("ep", b"1", "text/csv")
    platform.db.run(lambda s: s.query(Endpoint).filter(Endpoint.name == "ep").delete())
    assert svc.fail_orphans() == 1
    assert "was deleted" in svc.get("ep", b.id).error
