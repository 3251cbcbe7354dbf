"""Tests for the throwaway PostgreSQL server that the Postgres backend tests use."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support import pgserver
from tests.support.pgserver import PostgresServer, PostgresServerError, find_pg_bin

pytestmark = pytest.mark.skipif(
    find_pg_bin() is None, reason="PostgreSQL server binaries are not installed"
)


def libpq_url(url: str) -> str:
    """psycopg takes the URL without SQLAlchemy's driver suffix."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_server_serves_a_database_then_stops(tmp_path: Path) -> None:
    with PostgresServer(tmp_path) as server:
        url = server.url
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/slipway"
        with psycopg.connect(libpq_url(url)) as conn:
            conn.execute("CREATE TABLE runs (id serial PRIMARY KEY, name text NOT NULL)")
            conn.execute("INSERT INTO runs (name) VALUES (%s)", ("first",))
            assert conn.execute("SELECT id, name FROM runs").fetchall() == [(1, "first")]
            settings = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                    (["listen_addresses", "fsync", "unix_socket_directories"],),
                ).fetchall()
            )
        assert settings == {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "unix_socket_directories": str(tmp_path / "run"),
        }
        assert (tmp_path / "data" / "PG_VERSION").is_file()

    with pytest.raises(PostgresServerError, match="not running"):
        server.url
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_url(url), connect_timeout=5)
    server.stop()  # stopping twice is harmless


def test_failed_start_shows_the_server_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(pgserver._SETTINGS, "shared_buffers", "'not a size'")
    server = PostgresServer(tmp_path, timeout=30)
    with pytest.raises(PostgresServerError, match="shared_buffers"):
        server.start()
    with pytest.raises(PostgresServerError, match="not running"):
        server.url
