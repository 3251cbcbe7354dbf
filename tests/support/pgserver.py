"""A real, throwaway PostgreSQL server for tests.

Runs the PostgreSQL binaries installed on the machine against a data folder
inside a test's temporary directory, so the Postgres backend is tested against
the real thing without a shared database or a container.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresServer", "PostgresServerError", "find_pg_bin"]

SUPERUSER = "postgres"
DATABASE = "slipway"

_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
# Server settings that trade durability for speed: the data is thrown away.
_SETTINGS = {
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "max_connections": "50",
    "shared_buffers": "32MB",
    "logging_collector": "off",
}
# A unix socket path longer than this is rejected by the kernel (sun_path).
_MAX_SOCKET_PATH = 100
_PORT_ATTEMPTS = 3


class PostgresServerError(RuntimeError):
    """The test PostgreSQL server could not be set up, started or stopped."""


def find_pg_bin() -> Path | None:
    """Return the folder holding initdb, pg_ctl and postgres, or None.

    Looks on PATH first (following symlinks such as Debian's
    /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb), then under
    /usr/lib/postgresql/*/bin, newest version first.
    """
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates += [Path(on_path).resolve().parent, Path(on_path).parent]
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: _version_key(path.parent.name),
        reverse=True,
    )
    for folder in candidates:
        if all(_is_executable(folder / name) for name in _SERVER_BINARIES):
            return folder
    return None


class PostgresServer:
    """A PostgreSQL server with its data under `base_dir`, for one test session.

    `start()` creates the cluster in `base_dir/data`, serves it on a free
    loopback port with trust authentication, creates the database "slipway"
    and returns its SQLAlchemy URL. `stop()` shuts it down and leaves the files
    for the caller (pytest's tmp_path) to remove. Use it as a context manager.
    """

    def __init__(self, base_dir: Path, *, timeout: float = 60.0) -> None:
        self.base_dir = Path(base_dir)
        self.timeout = timeout
        self.data_dir = self.base_dir / "data"
        self.run_dir = self.base_dir / "run"
        self.log_path = self.run_dir / "postgres.log"
        self.port: int | None = None
        self._url: str | None = None
        self._bin: Path | None = None
        self._prefix: list[str] = []

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the "slipway" database; only while started."""
        if self._url is None:
            raise PostgresServerError("The server is not running; call start() first.")
        return self._url

    def start(self) -> str:
        """Create and start the server; return the URL of the "slipway" database."""
        if self._url is not None:
            raise PostgresServerError(f"The server is already running at {self._url}.")
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresServerError(
                "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found "
                "on PATH or under /usr/lib/postgresql/*/bin. Install the PostgreSQL "
                "server (e.g. `apt-get install postgresql`) to run these tests."
            )
        self._bin = bin_dir
        self._prefix, uid, gid = _run_as_command()

        self.base_dir.mkdir(parents=True, exist_ok=True)
        for folder in (self.data_dir, self.run_dir):
            folder.mkdir(mode=0o700)
            if os.geteuid() == 0:
                os.chown(folder, uid, gid)

        self._server_command(
            "initdb",
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
            what="initdb",
        )
        self._write_config()

        deadline = time.monotonic() + self.timeout
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = _free_port()
            started, output = self._pg_ctl_start(port, deadline)
            if started:
                self.port = port
                break
            # Another process may have taken the port between probe and bind.
            if attempt == _PORT_ATTEMPTS or "could not bind" not in self._log_tail():
                self._kill_quietly()
                raise PostgresServerError(
                    f"PostgreSQL failed to start on port {port} (data in "
                    f"{self.data_dir}, timeout {self.timeout:.0f}s): {output}\n"
                    f"Server log:\n{self._log_tail()}"
                )

        try:
            self._create_database(deadline)
        except BaseException:
            self.stop()
            raise
        self._url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"
        return self._url

    def stop(self) -> None:
        """Shut the server down at once; nothing is removed from `base_dir`."""
        if self.port is None:
            return
        self._url = None
        self.port = None
        self._server_command(
            "pg_ctl",
            "stop",
            f"--pgdata={self.data_dir}",
            "--mode=immediate",
            "--wait",
            f"--timeout={max(1, int(self.timeout))}",
            what="pg_ctl stop",
        )

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_config(self) -> None:
        settings = {
            **_SETTINGS,
            "listen_addresses": _quote("127.0.0.1"),
            "unix_socket_directories": _quote(self._socket_dir()),
        }
        lines = "".join(f"{key} = {value}\n" for key, value in settings.items())
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# Added by tests/support/pgserver.py\n" + lines)

    def _socket_dir(self) -> str:
        # The socket lives inside base_dir; when that path is too long for a
        # unix socket, serve TCP only rather than fail.
        path = str(self.run_dir)
        return path if len(path) + len("/.s.PGSQL.65535") <= _MAX_SOCKET_PATH else ""

    def _pg_ctl_start(self, port: int, deadline: float) -> tuple[bool, str]:
        """Start the server and wait until it accepts connections."""
        remaining = max(1, int(deadline - time.monotonic()))
        try:
            result = subprocess.run(
                [
                    *self._prefix,
                    str(self._binary("pg_ctl")),
                    "start",
                    f"--pgdata={self.data_dir}",
                    f"--log={self.log_path}",
                    f"--options=-p {port}",
                    "--wait",
                    f"--timeout={remaining}",
                ],
                capture_output=True,
                text=True,
                env=_clean_env(),
                timeout=remaining + 10,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"pg_ctl start did not return within {remaining + 10}s"
        return result.returncode == 0, (result.stdout + result.stderr).strip()

    def _kill_quietly(self) -> None:
        """Stop a server that may be half started; its log tells the story."""
        try:
            subprocess.run(
                [
                    *self._prefix,
                    str(self._binary("pg_ctl")),
                    "stop",
                    f"--pgdata={self.data_dir}",
                    "--mode=immediate",
                    "--wait",
                    "--timeout=10",
                ],
                capture_output=True,
                env=_clean_env(),
                timeout=20,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pass

    def _create_database(self, deadline: float) -> None:
        createdb = self._binary("createdb")
        remaining = max(1.0, deadline - time.monotonic())
        result = subprocess.run(
            [
                str(createdb),
                "--host=127.0.0.1",
                f"--port={self.port}",
                f"--username={SUPERUSER}",
                DATABASE,
            ],
            capture_output=True,
            text=True,
            env=_clean_env(),
            timeout=remaining,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresServerError(
                f"createdb {DATABASE} failed: {result.stderr.strip()}\n"
                f"Server log:\n{self._log_tail()}"
            )

    def _server_command(self, name: str, *args: str, what: str) -> None:
        """Run a server binary as the server's user; raise with its output on failure."""
        try:
            result = subprocess.run(
                [*self._prefix, str(self._binary(name)), *args],
                capture_output=True,
                text=True,
                env=_clean_env(),
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresServerError(
                f"{what} did not finish within {self.timeout:.0f}s. "
                f"Server log:\n{self._log_tail()}"
            ) from exc
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresServerError(
                f"{what} failed with exit status {result.returncode}:\n{output}\n"
                f"Server log:\n{self._log_tail()}"
            )

    def _binary(self, name: str) -> Path:
        assert self._bin is not None
        path = self._bin / name
        if _is_executable(path):
            return path
        found = shutil.which(name)
        if found is None:
            raise PostgresServerError(
                f"{name} was not found in {self._bin} or on PATH; "
                "install the PostgreSQL client programs."
            )
        return Path(found)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:]) or "(server log is empty)"


def _run_as_command() -> tuple[list[str], int, int]:
    """Return the command prefix that runs server binaries, and its uid and gid.

    PostgreSQL refuses to run as root. As root, the server runs as the
    `postgres` user (or `nobody`) through setpriv, keeping only
    CAP_DAC_READ_SEARCH: pytest's temporary folders are private to root
    (mode 0700), and that capability lets the server reach its data folder
    there without loosening their permissions.
    """
    if os.geteuid() != 0:
        return [], os.getuid(), os.getgid()
    for name in ("postgres", "nobody"):
        try:
            user = pwd.getpwnam(name)
            break
        except KeyError:
            continue
    else:
        raise PostgresServerError(
            "Running as root, and neither a 'postgres' nor a 'nobody' user exists "
            "to run the PostgreSQL server as (it refuses to run as root)."
        )
    setpriv = shutil.which("setpriv")
    if setpriv is not None:
        prefix = [
            setpriv,
            f"--reuid={user.pw_uid}",
            f"--regid={user.pw_gid}",
            "--clear-groups",
            "--inh-caps=+dac_read_search",
            "--ambient-caps=+dac_read_search",
            "--",
        ]
    else:
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresServerError(
                "Running as root, and neither setpriv nor runuser is available to "
                f"run the PostgreSQL server as {user.pw_name!r}; install util-linux."
            )
        # Without setpriv the server user must be able to reach base_dir itself.
        prefix = [runuser, "-u", user.pw_name, "--"]
    return prefix, user.pw_uid, user.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    # PG* variables from the caller (PGDATA, PGPORT, PGOPTIONS...) would point
    # the tools elsewhere; a C locale keeps messages and the log in English.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _version_key(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in name.split("."))
    except ValueError:
        return (0,)
