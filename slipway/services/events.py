"""Platform events: ``emit(session, kind, subject, payload)`` writes an ``events`` row in the caller's
transaction, so an event exists exactly when the change it describes was committed.

Pipeline triggers read them (``slipway pipelines trigger NAME --on dataset:reviews``). A new kind is
one line in ``KINDS``; ``TRIGGER_PREFIXES`` maps what a user writes after ``--on`` to a kind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from slipway.db.models import Event

__all__ = ["KINDS", "TRIGGER_PREFIXES", "emit"]

# kind -> (what the subject is, payload keys)
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dataset.version_created": ("dataset name", ("ref", "version")),
    "model.version_registered": ("model name", ("ref", "version")),
    "model.version_approved": ("model name", ("ref", "version")),
    "job.finished": ("job name", ("status", "kind")),
    # emitted by monitoring's alarms, subject "alarm/<name>"; a trigger fires when "to" is ALARM
    "alarm.state_changed": ("alarm name", ("from", "to", "reason")),
}
TRIGGER_PREFIXES = {"dataset": "dataset.version_created", "model": "model.version_registered",
                    "model-approved": "model.version_approved", "job": "job.finished",
                    "alarm": "alarm.state_changed"}


def emit(session: Session, kind: str, subject: str, payload: dict[str, Any] | None = None) -> None:
    """Record an event in ``session``'s transaction (it commits or rolls back with the change)."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; add it to slipway.services.events.KINDS")
    session.add(Event(kind=kind, subject=subject, payload=dict(payload or {})))
