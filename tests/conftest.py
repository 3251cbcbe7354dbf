"""Shared fixtures: settings on a temp home, real server processes, the SDK client, datasets.

`backend` runs a test on SQLite and on a real PostgreSQL server started for the session.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from slipway.client import Client
from slipway.services import Platform
from slipway.settings import Settings
from tests.support.raycluster import RayCluster
from tests.support.s3server import S3Server
from tests.support.servers import SlipwayServer

_db_counter = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.slipway or SLIPWAY_* variables."""
    for key in list(os.environ):
        if key.startswith("SLIPWAY_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "user-home"))


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real PostgreSQL server per test process; yields its base URL (database 'slipway')."""
    from tests.support.pgserver import PostgresServer, find_pg_bin

    if find_pg_bin() is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are not installed on this machine")
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real S3-compatible server (moto's server mode) per test process."""
    server = S3Server(tmp_path_factory.mktemp("s3"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """One real local Ray cluster (a head with 2 CPUs) per test process; mark its tests xdist_group("ray")."""
    try:
        import ray  # noqa: F401
    except ImportError:
        pytest.fail("Ray is not installed: `make test` installs the ray extra (pip install -e '.[all,dev]')")
    cluster = RayCluster(Path(tempfile.mkdtemp(prefix="slipway-ray-", dir="/tmp"))).start()  # short: Ray's socket paths
    try:
        yield cluster
    finally:
        cluster.stop()


_bucket_counter = itertools.count()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> str:
    """A fresh, empty bucket on the session's S3 server; returns its name."""
    name = f"b{os.getpid()}-{next(_bucket_counter)}"
    s3_server.make_bucket(name)
    return name


def fresh_pg_database(base_url: str) -> str:
    """Create an empty database on the session server and return its URL."""
    import psycopg

    name = f"t{os.getpid()}_{next(_db_counter)}"
    plain = base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return fresh_pg_database(request.getfixturevalue("postgres"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home", port=8080)


@pytest.fixture
def platform(settings: Settings) -> Iterator[Platform]:
    p = Platform(settings)
    p.migrate()
    yield p
    p.close()


def _spare_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """Most per-test servers never deploy an endpoint: they run without the warm spare replica, whose imports
    (~1.7 CPU-seconds per server) would be wasted. Serving tests (marked ``warm_spare``) keep the default."""
    return {} if request.node.get_closest_marker("warm_spare") else {"SLIPWAY_WARM_SPARE": "false"}


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Iterator[SlipwayServer]:
    """A real `slipway up` process, on SQLite and on Postgres."""
    srv = SlipwayServer(tmp_path / "server-home", database_url=database_url, env=_spare_env(request)).start()
    yield srv
    srv.stop()


@pytest.fixture
def sqlite_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SlipwayServer]:
    """A real server on the default embedded backends only."""
    srv = SlipwayServer(tmp_path / "server-home", env=_spare_env(request)).start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: SlipwayServer) -> Iterator[Client]:
    c = Client(url=server.url, home=server.home)
    yield c
    c.close()


@pytest.fixture
def cli(server: SlipwayServer) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `slipway ARGS…` as a user would, against ``server``."""

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "slipway.cli.main", *args],
            capture_output=True, text=True, env={**server.cli_env(), **(env or {})}, input=input, timeout=120,
        )

    return run


@pytest.fixture
def make_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a small CSV with a label column; ``seed`` changes the content."""

    def make(name: str = "data.csv", rows: int = 20, seed: int = 0) -> Path:
        path = tmp_path / "inputs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["a,b,label"] + [f"{i + seed},{(i * 7 + seed) % 11}.5,{'yes' if i % 2 else 'no'}" for i in range(rows)]
        path.write_text("\n".join(lines) + "\n")
        return path

    return make
