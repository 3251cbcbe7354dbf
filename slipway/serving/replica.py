"""A replica: one process serving one model version like a SageMaker container (GET /ping, POST /invocations).

A plain ASGI app on uvicorn (uvloop, httptools), with no framework between the socket and the model.
The model is loaded before the socket is served, so a 200 from /ping means ready. Run as
``python -m slipway.serving.replica --artifact DIR --fd N`` (the server passes a bound socket) or ``--port``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from slipway.artifacts.handlers import CUSTOM_ATTRIBUTES, SAGEMAKER_HEADER
from slipway.serving.batching import Batcher
from slipway.serving.predictor import Predictor, error_body

__all__ = ["ReplicaApp", "main"]

log = logging.getLogger("slipway.replica")
CUSTOM_ATTRIBUTES_HEADER = b"x-amzn-sagemaker-custom-attributes"
_SAGEMAKER_HEADERS = {CUSTOM_ATTRIBUTES_HEADER: CUSTOM_ATTRIBUTES, SAGEMAKER_HEADER.encode(): SAGEMAKER_HEADER}
JSON = b"application/json"
PING_BODY = b'{"status":"ok"}'
INLINE_MAX_BODY = 64 * 1024
INLINE_MAX_SECONDS = 0.01


class ReplicaApp:
    def __init__(self, predictor: Predictor, max_payload_bytes: int, timeout: float, threads: int = 4,
                 max_batch_size: int = 64, max_batch_wait: float = 0.0, max_queue: int = 1024) -> None:
        self.predictor = predictor
        self.max_payload_bytes = max_payload_bytes
        self.timeout = timeout
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="predict")
        self.requests = 0
        self.rejected = 0
        self.depth = 0  # requests admitted and not yet answered (the queue the bound applies to)
        self.max_queue = max(1, max_queue)
        # Moving average of the model's time per call. A fast built-in model on a small body is
        # called on the event loop (a thread hop costs more than the prediction); anything slow, big
        # or user code runs on a worker thread, where the per-request timeout can cut it off.
        self.avg_seconds = predictor.warm_seconds if predictor.warm_seconds is not None else 1.0
        self.inline = not predictor.handlers
        self.batcher = (Batcher(self._predict_rows, max_batch_size, max_batch_wait, None)
                        if max_batch_size > 1 and predictor.fast else None)
        self._overloaded = error_body(
            "overloaded", f"The replica has {self.max_queue} requests waiting, its bound (setting "
            "'max_queue'). Retry after 1 s, or add replicas.", {"max_queue": self.max_queue, "retry_after": 1})

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations" and method == "POST":
            if self.depth >= self.max_queue:
                # Shed cheaply: no body read, no log line; the count is in /metrics.
                self.rejected += 1
                await send({"type": "http.response.start", "status": 503, "headers": [
                    (b"content-type", JSON), (b"retry-after", b"1"),
                    (b"content-length", str(len(self._overloaded)).encode())]})
                await send({"type": "http.response.body", "body": self._overloaded})
                return
            self.depth += 1
            try:
                await self._invoke(scope, receive, send)
            finally:
                self.depth -= 1
            return
        rid = _request_id(scope)
        if path == "/ping" and method in ("GET", "HEAD"):
            await _reply(send, 200, PING_BODY, JSON)
            return
        if path == "/metrics" and method == "GET":
            await _reply(send, 200, self.metrics(), b"text/plain; version=0.0.4")
            return
        if path != "/invocations":
            await _reply(send, 404, error_body("not_found", f"No route {method} {path}. A replica serves "
                                               "GET /ping, GET /metrics and POST /invocations.", None, rid), JSON)
            return
        await _reply(send, 405, error_body("method_not_allowed", "Use POST /invocations.", None, rid), JSON)

    async def _invoke(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        content_type, accept, length, rid = "application/json", "", None, None
        extra: dict[str, str] = {}  # SageMaker's: custom attributes, and the SageMaker answer switch
        for k, v in scope["headers"]:
            if k == b"content-type":
                content_type = v.decode("latin-1")
            elif k == b"accept":
                accept = v.decode("latin-1")
            elif k == b"content-length":
                length = int(v) if v.isdigit() else None
            elif k == b"x-request-id":
                rid = v.decode("latin-1")[:64]
            elif k in _SAGEMAKER_HEADERS:
                extra[_SAGEMAKER_HEADERS[k]] = v.decode("latin-1")
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
        inline = self.inline and len(body) <= INLINE_MAX_BODY and self.avg_seconds < INLINE_MAX_SECONDS
        if CUSTOM_ATTRIBUTES in extra or (SAGEMAKER_HEADER in extra and self.predictor.container_answers):
            # a SageMaker path: the general path, which hands headers on and answers as SageMaker
            await self._invoke_sagemaker(send, body, content_type, accept, extra, rid)
            return
        rows = self.predictor.fast_rows(body, content_type, accept)
        if rows is not None:
            try:
                if self.batcher is not None:
                    self.batcher.executor = None if inline else self.executor
                    call = self.batcher.submit(rows)
                    predictions = await (call if inline else asyncio.wait_for(call, self.timeout))
                elif inline:
                    predictions = self._predict_rows(rows)
                else:
                    loop = asyncio.get_running_loop()
                    predictions = await asyncio.wait_for(
                        loop.run_in_executor(self.executor, self._predict_rows, rows), self.timeout)
            except TimeoutError:
                await self._timeout(send, rid)
                return
            except Exception as exc:  # the model failed: report, stay up
                log.warning("predict failed: %s: %s", type(exc).__name__, exc)
                await _reply(send, 500, error_body("model_error", f"The model failed to predict: "
                                                   f"{type(exc).__name__}: {exc}", {"stage": "predict"}, rid), JSON)
                return
            await _reply(send, 200, self.predictor.render(predictions), JSON)
            return
        if inline:
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

    async def _invoke_sagemaker(self, send: Any, body: bytes, content_type: str, accept: str, extra: dict[str, str],
                                rid: str | None) -> None:
        loop = asyncio.get_running_loop()

        def run() -> tuple[int, bytes, str, str | None]:
            t = time.perf_counter()
            result = self.predictor.invoke_with(body, content_type, accept, extra)
            self.avg_seconds = 0.9 * self.avg_seconds + 0.1 * (time.perf_counter() - t)
            return result

        try:
            status, out, ct, attributes = await asyncio.wait_for(loop.run_in_executor(self.executor, run), self.timeout)
        except TimeoutError:
            await self._timeout(send, rid)
            return
        if status >= 400 and rid is not None:
            out = _with_request_id(out, rid)
        headers = [(b"content-type", ct.encode("latin-1")), (b"content-length", str(len(out)).encode())]
        if attributes is not None:
            headers.append((CUSTOM_ATTRIBUTES_HEADER, attributes.encode("latin-1", "replace")[:1024]))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    def _predict_rows(self, rows: Any) -> list[Any]:
        t = time.perf_counter()
        result = self.predictor.predict_rows(rows)
        self.avg_seconds = 0.9 * self.avg_seconds + 0.1 * (time.perf_counter() - t)
        return result

    def metrics(self) -> bytes:
        """Prometheus text format: this worker's queue bound and depth, requests, sheds, batches."""
        b = self.batcher
        lines = [
            "# HELP slipway_replica_queue_depth Requests admitted and not yet answered (this worker).",
            "# TYPE slipway_replica_queue_depth gauge",
            f"slipway_replica_queue_depth {self.depth}",
            "# HELP slipway_replica_queue_bound Requests past this many waiting get 503 (setting max_queue).",
            "# TYPE slipway_replica_queue_bound gauge",
            f"slipway_replica_queue_bound {self.max_queue}",
            "# TYPE slipway_replica_requests_total counter",
            f"slipway_replica_requests_total {self.requests}",
            "# TYPE slipway_replica_rejected_total counter",
            f"slipway_replica_rejected_total {self.rejected}",
            "# TYPE slipway_replica_batches_total counter",
            f"slipway_replica_batches_total {b.batches if b else 0}",
            "# TYPE slipway_replica_batched_requests_total counter",
            f"slipway_replica_batched_requests_total {b.batched_requests if b else 0}",
            "# TYPE slipway_replica_model_seconds gauge",
            f"slipway_replica_model_seconds {self.avg_seconds:.9f}",
            "# TYPE slipway_replica_info gauge",
            f'slipway_replica_info{{runtime="{self.predictor.runtime}",pid="{os.getpid()}"}} 1',
        ]
        return ("\n".join(lines) + "\n").encode()

    def _timed(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        t = time.perf_counter()
        result = self.predictor.invoke(body, content_type, accept)
        self.avg_seconds = 0.9 * self.avg_seconds + 0.1 * (time.perf_counter() - t)
        return result

    async def _timeout(self, send: Any, rid: str | None) -> None:
        await _reply(send, 504, error_body(
            "timeout", f"The model took longer than the limit of {self.timeout:g} s per request "
            "(setting 'invocation_timeout').", {"limit_seconds": self.timeout}, rid), JSON)


def _request_id(scope: dict[str, Any]) -> str | None:
    for k, v in scope["headers"]:
        if k == b"x-request-id":
            return str(v.decode("latin-1")[:64])
    return None


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
    """Stop when ``parent`` is gone (a forked worker, when its replica stops)."""
    while not server.should_exit:
        if os.getppid() != parent:
            log.warning("parent %s is gone; stopping", parent)
            server.should_exit = True
            return
        time.sleep(1.0)


def _watch_lease(lease: Path, timeout: float, server: Any) -> None:
    """Stop when no server on this home has renewed the lease for ``timeout`` s (or the home is gone).

    A replica does not stop with the server that started it: it keeps serving through a crash and is
    adopted by the next server on the home, which renews the same lease. Without one, it stops in time.
    """
    while not server.should_exit:
        try:
            age = time.time() - lease.stat().st_mtime
        except OSError:
            age = float("inf")
        if age > timeout:
            log.warning("no Slipway server renewed %s for %.0f s (setting 'replica_orphan_timeout' is %g s); "
                        "stopping", lease, min(age, 1e9), timeout)
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
    ap.add_argument("--uds", default=None, help="Also listen on this Unix socket (mode 0600; the gateway's way in).")
    ap.add_argument("--max-payload-bytes", type=int, default=6 * 1024 * 1024)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--workers", type=int, default=0,
                    help="Processes sharing the port, forked after the model is loaded (0: one per core for "
                         "built-in models on the fast path, one for custom code).")
    ap.add_argument("--max-batch-size", type=int, default=64, help="Rows per model call at most; 1 turns batching off.")
    ap.add_argument("--max-batch-wait-ms", type=float, default=0.0,
                    help="Wait this long for a fuller batch (0: batch only what arrives while the model is busy).")
    ap.add_argument("--max-queue", type=int, default=1024, help="Requests waiting past this get 503 + Retry-After.")
    ap.add_argument("--no-onnx", action="store_true", help="Serve the original model even if an ONNX export is verified.")
    ap.add_argument("--parent-pid", type=int, default=None, help="Stop when this process is gone.")
    ap.add_argument("--lease", default=None,
                    help="A file the server touches; stop when it is older than --orphan-timeout (or missing).")
    ap.add_argument("--orphan-timeout", type=float, default=600.0)
    ap.add_argument("--name", default="", help="endpoint/variant, for logs and ps.")
    ap.add_argument("--standby", action="store_true",
                    help="Import everything, then wait for one line of JSON arguments on stdin (a warm spare).")
    ap.add_argument("--private-dir", default=None,
                    help="The replica's own folder: TMPDIR and HOME (caches, config of libraries) point there.")
    ap.add_argument("--sandbox", default=None,
                    help="A warm spare's Landlock policy (JSON): serve from a forked child confined by it.")
    return ap


_forked_child = False  # this process is the warm spare's confined child (see _confined_child)


def _confined_child(policy: dict[str, Any], server_pid: int | None) -> int | None:
    """Fork; the child confines itself and returns None (it goes on to serve); the parent returns its status.

    The warm spare has imported libraries that started threads, and Landlock confines only the calling
    thread: a forked child has one thread, so everything it starts later carries the box. The parent
    passes SIGTERM and SIGINT on, stops the child when the server is gone, and ends with its status.
    """
    parent_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        global _forked_child
        _forked_child = True
        import ctypes

        from slipway.sandbox import landlock

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: killing the spare kills it too
        if os.getppid() != parent_pid:  # the spare died before that took hold
            os._exit(1)
        try:
            landlock.confine(policy["read"], policy["write"])
        except OSError as exc:
            print(f"Model failed to load: the replica could not confine itself: {exc}", file=sys.stderr, flush=True)
            os._exit(126)
        return None
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: os.kill(pid, signum))

    def watch() -> None:
        while server_pid and os.getppid() == server_pid:
            time.sleep(1.0)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    if server_pid:
        threading.Thread(target=watch, daemon=True).start()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _use_private_dir(folder: str) -> None:
    import tempfile

    os.environ.update({"TMPDIR": folder, "HOME": folder, "XDG_CACHE_HOME": os.path.join(folder, ".cache"),
                       "XDG_CONFIG_HOME": os.path.join(folder, ".config")})
    tempfile.tempdir = None


def _warm_imports() -> None:
    # With the estimator families of the built-in algorithms: unpickling a model imports its module.
    import joblib  # noqa: F401
    import pandas  # noqa: F401
    import sklearn.base  # noqa: F401
    import sklearn.compose  # noqa: F401
    import sklearn.ensemble  # noqa: F401
    import sklearn.impute  # noqa: F401
    import sklearn.linear_model  # noqa: F401
    import sklearn.neighbors  # noqa: F401
    import sklearn.pipeline  # noqa: F401
    import sklearn.preprocessing  # noqa: F401
    import sklearn.svm  # noqa: F401
    import sklearn.tree  # noqa: F401
    import uvicorn  # noqa: F401
    import uvloop  # noqa: F401
    from uvicorn.protocols.http import httptools_impl  # noqa: F401

    import slipway.serving.coalesce  # noqa: F401

    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s replica %(name)s: %(message)s")
    if args.standby:
        # A warm spare: the costly imports are done before anyone needs this process.
        _warm_imports()
        gc.collect()  # while nobody waits: the freeze after loading the model then has little to skip
        gc.freeze()
        line = sys.stdin.readline()
        if not line.strip():
            return 0  # the server went away or no longer needs a spare
        args = _parser().parse_args(orjson.loads(line))
        if args.sandbox:
            code = _confined_child(orjson.loads(args.sandbox), args.parent_pid)
            if code is not None:
                return code
            args.parent_pid = os.getppid()  # the child watches the spare, which watches the server
    if args.private_dir:
        _use_private_dir(args.private_dir)
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
    sockets = [sock]
    if args.uds:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.uds)
        usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_mask = os.umask(0o177)  # created 0600: only this user's processes may connect
        try:
            usock.bind(args.uds)
        finally:
            os.umask(old_mask)
        usock.listen(2048)
        sockets.append(usock)
    if args.report_port:
        print(orjson.dumps({"port": sock.getsockname()[1]}).decode(), flush=True)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # later prints (user code) go to the log, not the pipe
    try:
        predictor = Predictor(Path(args.artifact), onnx=not args.no_onnx)
        predictor.load()
    except Exception as exc:
        print(f"Model failed to load: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 3
    predictor.warm_up()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S") + f",{int(time.time() * 1000) % 1000:03d}"  # as logging's asctime
    print(f"{stamp} INFO replica {'/'.join(args.name.split('/')[-2:])}: model loaded, serving", file=sys.stderr, flush=True)  # the first log line

    import uvicorn

    # The model and libraries live as long as the process: freeze them out of the collector's full
    # passes (a pass over a large model stalls every request), and keep forked workers' pages shared.
    # No gc.collect() first: over these libraries it takes ~0.1 s, and a deploy is waiting.
    gc.freeze()

    # A fork copies memory but not threads: a library that started a thread pool (OpenMP in some
    # scikit-learn models, torch) can hang in the child. Only the single-threaded ONNX Runtime session
    # gets a worker per core unless asked otherwise.
    workers = args.workers if args.workers > 0 else ((os.cpu_count() or 1) if predictor.onnx is not None else 1)
    children: list[int] = []
    parent = args.parent_pid
    forked = False
    for _ in range(workers - 1):
        # Forked after loading: the workers share the model's memory and the listening sockets.
        pid = os.fork()
        if pid == 0:
            children = []
            parent = os.getppid()
            forked = True
            break
        children.append(pid)
    app = ReplicaApp(predictor, args.max_payload_bytes, args.timeout, args.threads, args.max_batch_size,
                     args.max_batch_wait_ms / 1000.0, args.max_queue)
    from slipway.serving.coalesce import http_protocol

    config = uvicorn.Config(app, loop="uvloop", http=http_protocol(), lifespan="off", access_log=False,
                            log_level="warning", timeout_graceful_shutdown=30, proxy_headers=False,
                            server_header=False, date_header=False, timeout_keep_alive=75)
    server = uvicorn.Server(config)
    if args.lease and not forked:  # a forked worker watches its replica, which watches the lease
        threading.Thread(target=_watch_lease, args=(Path(args.lease), args.orphan_timeout, server),
                         daemon=True).start()
    elif parent:
        threading.Thread(target=_watch_parent, args=(parent, server), daemon=True).start()
    try:
        server.run(sockets=sockets)
    finally:
        if args.uds and not forked:  # the first process owns the socket's path
            with contextlib.suppress(OSError):
                os.unlink(args.uds)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        if forked:
            # A forked worker skips interpreter and C++ teardown: libraries that started threads in the
            # parent before the fork (ONNX Runtime) abort in their destructors ("std::system_error").
            logging.shutdown()
            os._exit(0)
    return 0


if __name__ == "__main__":
    exit_code = 1
    try:
        exit_code = main()
    except BaseException:
        if not _forked_child:
            raise
        import traceback

        traceback.print_exc()
    if _forked_child:
        # A child forked from the warm spare inherits the state of the spare's library threads, and a
        # normal interpreter teardown can hang on it (seen after a model failed to load): done is done.
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(exit_code)
    sys.exit(exit_code)
