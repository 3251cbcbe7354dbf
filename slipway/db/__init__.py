"""Metadata database: SQLAlchemy models, engine set-up and Alembic migrations."""

from __future__ import annotations

from slipway.db.base import Base, utcnow
from slipway.db.engine import Database

__all__ = ["Base", "Database", "utcnow"]
