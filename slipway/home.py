"""The home folder stays private: the folder 0700, the database, credentials and master key 0600.

Files are created with these modes from the start (explicit ``os.open``/``mkdir`` modes, never
the process umask), and :func:`secure_home` tightens an older home whose modes are looser at every
start of the server or of a local admin command.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "make_private_dir", "private_file", "read_server_file", "secure_home",
           "sqlite_files"]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tighten(path: Path, mode: int) -> None:
    """Make ``path`` no more open than ``mode`` (a missing path is left alone)."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        try:
            os.chmod(path, current & mode)
        except OSError as exc:  # not ours, or a read-only file system: say so rather than pretend
            import logging  # here: the SDK's client reads server.json (below) at every CLI command

            logging.getLogger("slipway.home").warning("%s has mode %o and cannot be made private (%o): %s", path,
                                                      current, mode, exc)


def read_server_file(home: Path) -> dict[str, Any] | None:
    """What the running server of ``home`` wrote in ``server.json`` (url, pid, started_at); None without one."""
    import json

    try:
        return json.loads((home / "server.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) with mode 0700, or tighten it when it exists."""
    if not path.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=PRIVATE_DIR)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create an empty ``path`` with mode 0600 unless it exists; tighten it when it does."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    _tighten(path, PRIVATE_FILE)
    return path


def sqlite_files(database_url: str) -> list[Path]:
    """The database file of a ``sqlite:///`` URL and its write-ahead log and shared memory; [] otherwise."""
    if not database_url.startswith("sqlite"):
        return []
    path = database_url.split("///", 1)[-1]
    if not path or path == ":memory:":
        return []
    db = Path(path)
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), db.with_name(db.name + "-journal")]


def secure_home(home: Path, database_url: str = "") -> None:
    """The home 0700; its credentials, master keys and SQLite database files 0600 (fixes older homes)."""
    make_private_dir(home)
    for name in ("credentials", "master.key", "master.key.new"):
        _tighten(home / name, PRIVATE_FILE)
    for path in sqlite_files(database_url):
        _tighten(path, PRIVATE_FILE)
