"""A replica: one process serving one model version like a SageMaker container (GET /ping, POST /invocations).

A plain ASGI app on uvicorn (uvloop, httptools), with no framework between the socket and the model.
The model is loaded before the socket is served, so a 200 from /ping means ready. Run as
``python -m slipway.serving.replica --artifact DIR --fd N`` (the server passes a bound socket) or ``--port``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from slipway.serving.predictor import Predictor, error_body

__all__ = ["ReplicaApp", "main"]

log = logging.getLogger("slipway.replica")
JSON = b"application/json"
PING_BODY = b'{"status":"ok"}'
INLINE_MAX_BODY = 64 * 1024
INLINE_MAX_SECONDS = 0.01


class ReplicaApp:
    def __init__(self, predictor: Predictor, max_payload_bytes: int, timeout: float, threads: int = 4) -> None:
        self.predictor = predictor
        self.max_payload_bytes = max_payload_bytes
        self.timeout = timeout
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict")
        self.requests = 0
        # Moving average of the model's time per request. A fast built-in model on a small body is
        # called on the event loop (a thread hop costs more than the prediction); anything slow, big
        # or user code runs on a worker thread, where the per-request timeout can cut it off.
        self.avg_seconds = predictor.warm_seconds if predictor.warm_seconds is not None else 1.0
        self.inline = not predictor.handlers

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        rid = None
        for k, v in scope["headers"]:
            if k == b"x-request-id":
                rid = v.decode("latin-1")[:64]
        if path == "/ping" and method in ("GET", "HEAD"):
            await _reply(send, 200, PING_BODY, JSON)
            return
        if path != "/invocations":
            await _reply(send, 404, error_body("not_found", f"No route {method} {path}. A replica serves "
                                               "GET /ping and POST /invocations.", None, rid), JSON)
            return
        if method != "POST":
            await _reply(send, 405, error_body("method_not_allowed", "Use POST /invocations.", None, rid), JSON)
            return
        content_type, accept, length = "application/json", "", None
        for k, v in scope["headers"]:
            if k == b"content-type":
                content_type = v.decode("latin-1")
            elif k == b"accept":
                accept = v.decode("latin-1")
            elif k == b"content-length":
                length = int(v) if v.isdigit() else None
        limit = self.max_payload_bytes
        if length is not None and length > limit:
            await _reply(send, 413, _too_large(length, limit, rid), JSON)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reply(send, 413, _too_large(size, limit, rid), JSON)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.requests += 1
        if self.inline and len(body) <= INLINE_MAX_BODY and self.avg_seconds < INLINE_MAX_SECONDS:
            status, out, ct = self._timed(body, content_type, accept)
        else:
            loop = asyncio.get_running_loop()
            try:
                status, out, ct = await asyncio.wait_for(
                    loop.run_in_executor(self.executor, self._timed, body, content_type, accept), self.timeout
                )
            except TimeoutError:
                await self._timeout(send, rid)
                return
        if status >= 400 and rid is not None:
            out = _with_request_id(out, rid)
        await _reply(send, status, out, ct.encode("latin-1") if isinstance(ct, str) else ct)

    def _timed(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        t = time.perf_counter()
        result = self.predictor.invoke(body, content_type, accept)
        self.avg_seconds = 0.9 * self.avg_seconds + 0.1 * (time.perf_counter() - t)
        return result

    async def _timeout(self, send: Any, rid: str | None) -> None:
        await _reply(send, 504, error_body(
            "timeout", f"The model took longer than the limit of {self.timeout:g} s per request "
            "(setting 'invocation_timeout').", {"limit_seconds": self.timeout}, rid), JSON)


def _with_request_id(body: bytes, rid: str) -> bytes:
    try:
        doc = orjson.loads(body)
        doc["error"]["request_id"] = rid
        return orjson.dumps(doc)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return body


def _too_large(size: int, limit: int, rid: str | None) -> bytes:
    return error_body("payload_too_large", f"The request body of {size} bytes is over the limit of {limit} bytes "
                      f"({limit / 1048576:g} MB, setting 'max_payload_bytes'). Send fewer rows per request.",
                      {"limit_bytes": limit}, rid)


async def _reply(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _watch_parent(parent: int, server: Any) -> None:
    """Stop when the server that started this replica is gone (no orphans after a crash)."""
    while not server.should_exit:
        if os.getppid() != parent:
            log.warning("parent %s is gone; stopping", parent)
            server.should_exit = True
            return
        time.sleep(1.0)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m slipway.serving.replica")
    ap.add_argument("--artifact", help="Unpacked model artifact folder.")
    ap.add_argument("--fd", type=int, default=None, help="A listening socket inherited from the server.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080, help="0 picks a free port (see --report-port).")
    ap.add_argument("--report-port", action="store_true", help="Print {\"port\": N} on stdout once bound.")
    ap.add_argument("--max-payload-bytes", type=int, default=6 * 1024 * 1024)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--parent-pid", type=int, default=None)
    ap.add_argument("--name", default="", help="endpoint/variant, for logs and ps.")
    ap.add_argument("--standby", action="store_true",
                    help="Import everything, then wait for one line of JSON arguments on stdin (a warm spare).")
    return ap


def _warm_imports() -> None:
    import joblib  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.base  # noqa: F401
    import uvicorn  # noqa: F401
    import uvloop  # noqa: F401
    from uvicorn.protocols.http import httptools_impl  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s replica %(name)s: %(message)s")
    if args.standby:
        # A warm spare: the costly imports are done before anyone needs this process.
        _warm_imports()
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the server went away or no longer needs a spare
        args = _parser().parse_args(orjson.loads(line))
    if not args.artifact:
        print("--artifact is required", file=sys.stderr)
        return 2
    # Bind first: the server knows the port at once; callers queue in the backlog until the model is loaded.
    if args.fd is not None:
        sock = socket.socket(fileno=args.fd)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.host, args.port))
        sock.listen(2048)
    if args.report_port:
        print(orjson.dumps({"port": sock.getsockname()[1]}).decode(), flush=True)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # later prints (user code) go to the log, not the pipe
    try:
        predictor = Predictor(Path(args.artifact))
        predictor.load()
    except Exception as exc:
        print(f"Model failed to load: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 3
    predictor.warm_up()

    import uvicorn

    app = ReplicaApp(predictor, args.max_payload_bytes, args.timeout, args.threads)
    config = uvicorn.Config(app, loop="uvloop", http="httptools", lifespan="off", access_log=False,
                            log_level="warning", timeout_graceful_shutdown=30, proxy_headers=False,
                            server_header=False, date_header=False)
    server = uvicorn.Server(config)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, server), daemon=True).start()
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
