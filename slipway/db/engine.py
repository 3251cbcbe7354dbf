"""Engine and sessions for the metadata database, chosen by URL (SQLite or Postgres)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from slipway.errors import InvalidArgument
from slipway.home import private_file

__all__ = ["Database"]

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Database:
    """Owns the engine; hands out sessions that commit on success and roll back on error."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                private_file(Path(path))  # SQLite gives its -wal and -shm files the database file's mode
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # Take the write lock at BEGIN so two writers queue instead of failing on upgrade.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            event.listen(self.engine, "connect", lambda c, r: setattr(c, "isolation_level", None))
        elif url.startswith("postgresql"):
            try:
                self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
            except ModuleNotFoundError as exc:
                raise InvalidArgument(
                    f"Database URL {self._safe_url()!r} needs the Postgres driver: install slipway[postgres]."
                ) from exc
        else:
            raise InvalidArgument(
                f"Setting 'database_url' has value {self._safe_url()!r}. Expected sqlite:///… or postgresql+psycopg://…",
                {"field": "database_url"},
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgres"

    def _safe_url(self) -> str:
        """The URL with any password masked, for messages and `slipway status`."""
        if "@" in self.url and "://" in self.url:
            scheme, rest = self.url.split("://", 1)
            creds, host = rest.rsplit("@", 1)
            user = creds.split(":", 1)[0]
            return f"{scheme}://{user}:***@{host}" if ":" in creds else f"{scheme}://{user}@{host}"
        return self.url

    safe_url = property(_safe_url)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def run(self, fn: Callable[[Session], T], retries: int = 5) -> T:
        """Run ``fn`` in one transaction, retrying when SQLite reports a transient lock."""
        for attempt in range(retries):
            try:
                with self.session() as session:
                    return fn(session)
            except OperationalError as exc:
                if "locked" not in str(exc).lower() or attempt == retries - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def migrate(self) -> None:
        """Bring the schema to the newest revision of every migration branch."""
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "heads")

    def dispose(self) -> None:
        self.engine.dispose()
