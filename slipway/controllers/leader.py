"""Which server runs a controller when several servers share one database.

On Postgres each controller has one leader, elected through a session-level advisory lock
(``pg_try_advisory_lock``) taken on a connection of its own and held for as long as the server
leads. Postgres drops the lock the moment that connection closes, so a leader killed with
``kill -9`` (its sockets closed by the kernel) is replaced on the next pass of another server's
loop, within a second or two. On SQLite there is only one server per database (the home lock),
and it leads everything.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

__all__ = ["AdvisoryLockElection", "Election", "SingleServer", "lock_key", "open_election"]

log = logging.getLogger("slipway.controllers")


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name`` (the same in every server and version)."""
    digest = hashlib.sha256(f"slipway:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Election(ABC):
    """``lead(name)`` is asked before every pass of a controller; True while this server leads it."""

    @abstractmethod
    def lead(self, name: str) -> bool: ...

    @abstractmethod
    def leading(self) -> list[str]:
        """The controllers this server leads now."""

    def close(self) -> None:
        """Give up every leadership (a clean shutdown: another server takes over at once)."""


class SingleServer(Election):
    """SQLite: the one server leads every controller."""

    def __init__(self) -> None:
        self._names: set[str] = set()

    def lead(self, name: str) -> bool:
        self._names.add(name)
        return True

    def leading(self) -> list[str]:
        return sorted(self._names)


class AdvisoryLockElection(Election):
    """One autocommit connection per controller, holding its advisory lock while leading and
    retrying ``pg_try_advisory_lock`` on it each pass while not.

    A connection per controller (not one shared) keeps a slow pass of one controller from
    delaying another's check, and lets one controller's lost connection cost only that lock.
    """

    recheck = 0.5  # seconds a held leadership is trusted before its connection is checked again

    def __init__(self, dsn: str, connect_timeout: int = 5) -> None:
        self.dsn = dsn
        self.connect_timeout = connect_timeout
        self._checked: dict[str, float] = {}
        self._conns: dict[str, Any] = {}  # a standby connection per controller, even while not leading
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        import psycopg

        # Keepalives let this side notice a vanished database host; the lock itself is the server's.
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=self.connect_timeout,
                               keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
                               application_name="slipway-leader")

    def lead(self, name: str) -> bool:
        with self._lock:
            conn, held = self._conns.get(name), name in self._held
        try:
            if conn is None:
                conn = self._connect()
                with self._lock:
                    self._conns[name] = conn
            if held:
                if time.monotonic() - self._checked.get(name, 0.0) >= self.recheck:
                    conn.execute("SELECT 1")  # still connected means the lock is still ours
                    self._checked[name] = time.monotonic()
                return True
            got = bool(conn.execute("SELECT pg_try_advisory_lock(%s)",
                                    (lock_key(f"controller:{name}"),)).fetchone()[0])
        except Exception as exc:
            if held:
                log.warning("Lost the database connection holding the %s leadership; stepping down (%s)", name, exc)
            self._drop(name)
            return False
        if got:
            with self._lock:
                self._held.add(name)
            log.info("This server now leads controller %s", name)
        return got

    def _drop(self, name: str) -> None:
        with self._lock:
            conn = self._conns.pop(name, None)
            self._held.discard(name)
            self._checked.pop(name, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def leading(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    def close(self) -> None:
        with self._lock:
            names = list(self._conns)
        for name in names:
            self._drop(name)


def open_election(database_url: str) -> Election:
    if database_url.startswith("postgresql"):
        return AdvisoryLockElection(database_url.replace("postgresql+psycopg://", "postgresql://", 1))
    return SingleServer()
