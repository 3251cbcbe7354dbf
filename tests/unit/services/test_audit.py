"""Audit rules: mutating and denied calls recorded, reads skipped unless asked, inference counted."""

from __future__ import annotations

from slipway.services import Platform
from slipway.services.audit import AuditService


def event(action: str, outcome: str = "allowed", status: int = 200, user: str = "alice") -> dict[str, object]:
    return {"user": user, "key_id": "abc", "action": action, "resource": "endpoint/churn", "method": "POST",
            "path": "/x", "source": "10.0.0.1", "request_id": "r1", "outcome": outcome, "status": status,
            "message": ""}


def test_what_is_recorded_and_what_is_counted(platform: Platform) -> None:
    audit = platform.audit
    audit.observe(**event("datasets:Create"))
    audit.observe(**event("datasets:Get"))
    audit.observe(**event("datasets:Get", "denied", 403))
    for _ in range(5):
        audit.observe(**event("endpoints:Invoke"))
    audit.observe(**event("endpoints:Invoke", user="bob"))
    audit.observe(**event("endpoints:Invoke", "denied", 403, user="eve"))
    recorded = [(e.action, e.outcome, e.user) for e in audit.list().items]
    assert recorded == [("endpoints:Invoke", "denied", "eve"), ("datasets:Get", "denied", "alice"),
                        ("datasets:Create", "allowed", "alice")]
    assert [(c.user, c.action, c.count) for c in audit.counts()] == [("alice", "endpoints:Invoke", 5),
                                                                     ("bob", "endpoints:Invoke", 1)]
    audit.observe(**event("endpoints:Invoke"))
    assert audit.flush() == 1
    assert [c.count for c in audit.counts(since="1d")] == [6, 1]
    assert [e.action for e in audit.list(action="DATASETS:*").items] == ["datasets:Get", "datasets:Create"]
    assert audit.list(since="1h", user="nobody").total == 0


def test_reads_recorded_when_asked(platform: Platform) -> None:
    audit = AuditService(platform.db, record_reads=True)
    audit.observe(**event("datasets:List"))
    assert [e.action for e in audit.list().items] == ["datasets:List"]
