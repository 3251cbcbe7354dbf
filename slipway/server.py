"""`slipway up`: one process serving the API with the background controllers beside it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from slipway.errors import Conflict, InvalidArgument
from slipway.home import make_private_dir, read_server_file
from slipway.settings import Settings

__all__ = ["HomeLock", "read_server_file", "serve"]

log = logging.getLogger("slipway.server")


class HomeLock:
    """An exclusive lock on the home folder, held for the server's lifetime."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        make_private_dir(self.settings.home)
        fh = open(self.settings.lock_file, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            info = read_server_file(self.settings.home) or {}
            raise Conflict(
                f"Another Slipway server is already running on home {self.settings.home} "
                f"(pid {info.get('pid', '?')}, {info.get('url', 'unknown url')}). "
                "Stop it first, or start this one with another --home.",
                {"home": str(self.settings.home), **info},
            ) from None
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(
                f"Port {port} on {host} is already in use (another Slipway server or another program). "
                "Stop it, or pass --port to use another port.",
                {"host": host, "port": port},
            ) from None
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def _server_file(settings: Settings, url: str) -> Iterator[None]:
    path = settings.server_file
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "started_at": time.time()}))
    tmp.replace(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            info = json.loads(path.read_text())
            if info.get("pid") == os.getpid():
                path.unlink()


def _server_class() -> Any:
    import uvicorn

    class _Server(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after shutdown; a clean stop should exit 0 instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    return _Server


def serve(
    settings: Settings,
    demo: bool = False,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
    ready: Any = None,
) -> None:
    """Run until SIGINT/SIGTERM. ``ready`` (optional callable) is called with the URL and the Platform once
    listening."""
    import uvicorn

    from slipway.api import create_app, serving_app
    from slipway.controllers import ControllerManager, default_controllers
    from slipway.controllers.leader import open_election
    from slipway.services import Platform

    for name, value in (("--tls-cert", ssl_certfile), ("--tls-key", ssl_keyfile)):
        if value is not None and not Path(value).is_file():
            raise InvalidArgument(f"{name} {value!r} is not a readable file. Expected a PEM file.",
                                  {"field": name, "value": value})
    if bool(ssl_certfile) != bool(ssl_keyfile):
        raise InvalidArgument("TLS needs both --tls-cert and --tls-key (PEM files).", {"field": "--tls-key"})
    lock = HomeLock(settings)
    lock.acquire()
    try:
        sock = bind_socket(settings.host, settings.port)
        actual_port = sock.getsockname()[1]
        scheme = "https" if ssl_certfile else "http"
        shown_host = "127.0.0.1" if settings.host in ("0.0.0.0", "") else settings.host
        url = f"{scheme}://{shown_host}:{actual_port}"
        if actual_port != settings.port or scheme == "https":
            from dataclasses import replace

            settings = replace(settings, port=actual_port, url=url)
        platform = Platform(settings)
        logging.getLogger("alembic").setLevel(logging.WARNING)
        platform.migrate()
        if platform.bootstrap():
            log.warning("Created user 'admin'; its API key is in %s (mode 0600)", settings.credentials_file)
        platform.serving.check()  # an unreachable replica runtime (Ray) fails the start, saying what to check
        isolation = platform.sandbox.isolation
        if isolation.isolated:
            log.info("User code runs confined: %s", isolation.message)
        else:
            log.warning("%s. Any job, tuning trial or endpoint model can read this home (the admin key, the master "
                        "key, the database).", isolation.message[:1].upper() + isolation.message[1:])
        controllers = ControllerManager(default_controllers(platform), settings.controller_interval,
                                        open_election(settings.database_url))
        platform.controller_names = controllers.names  # type: ignore[attr-defined]
        platform.controllers_leading = controllers.leading  # type: ignore[attr-defined]
        app = create_app(platform)

        @contextlib.asynccontextmanager
        async def lifespan(_app: Any) -> Any:
            controllers.start()
            if demo:
                from slipway.demo.loader import start_demo_loader

                start_demo_loader(platform)
            log.info("Slipway %s listening on %s (home %s)", platform.describe()["version"], url, settings.home)
            if ready is not None:
                ready(url, platform)
            yield
            controllers.stop()
            if "serving" in vars(platform):  # the invocation gateway's connection pool, if one was opened
                await platform.serving.gateway.aclose()

        app.router.lifespan_context = lifespan
        # Everything loaded so far (libraries, the app) lives as long as the process: keep it out of
        # the garbage collector's full passes, which otherwise stall every request for tens of ms.
        gc.collect()
        gc.freeze()
        from slipway.serving.coalesce import http_protocol

        config = uvicorn.Config(
            serving_app(app),
            http=http_protocol(),  # one send per response (head and body together)
            log_level=settings.log_level,
            access_log=False,
            ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile,
            timeout_graceful_shutdown=10,
            proxy_headers=False,
            server_header=False,  # no "server: uvicorn" on every answer (one header less to check and send)
        )
        server = _server_class()(config)
        with _server_file(settings, url):
            server.run(sockets=[sock])
        platform.close()
        sock.close()
    finally:
        lock.release()
