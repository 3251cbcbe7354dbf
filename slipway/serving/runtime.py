"""The server side of serving: model folders fetched from the store, replica processes, the routing table.

The endpoint controller starts and stops replicas through this object; the gateway reads its routing
table. Routes are immutable snapshots swapped in one assignment, so a request never sees half an update.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from slipway.artifacts import unpack_artifact
from slipway.settings import Settings
from slipway.storage import ArtifactStore

__all__ = ["REPLICA_MODULE", "ReplicaFailed", "ReplicaHandle", "Route", "ServingRuntime", "VariantRoute"]

log = logging.getLogger("slipway.serving")
REPLICA_MODULE = "slipway.serving.replica"


class ReplicaFailed(Exception):
    """A replica did not become ready; the message says why (its own last words when it has any)."""


@dataclass(eq=False)
class ReplicaHandle:
    endpoint: str
    variant: str
    model: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    replica_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    outstanding: int = 0  # requests in flight, changed only on the server's event loop
    status: str = "Starting"  # Starting | Ready | Draining | Stopped
    suspect: bool = False  # the gateway could not reach it
    options: dict[str, Any] = field(default_factory=dict)  # ServingOptions it was started with
    uds: str | None = None  # the replica's Unix socket: the gateway's way in (cheaper than TCP on loopback)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_words(self, limit: int = 1500) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""
        lines = [ln for ln in text.splitlines() if ln.strip()]
        for ln in reversed(lines):
            if ln.startswith("Model failed to load"):
                return ln[:limit]
        return "\n".join(lines[-5:])[-limit:]


@dataclass(frozen=True)
class VariantRoute:
    name: str
    model: str
    weight: float
    replicas: tuple[ReplicaHandle, ...]


@dataclass(frozen=True)
class Route:
    endpoint: str
    variants: tuple[VariantRoute, ...]

    def handles(self) -> list[ReplicaHandle]:
        return [r for v in self.variants for r in v.replicas]

    def pick(self, target: str | None = None, exclude: frozenset[str] = frozenset()
             ) -> tuple[VariantRoute, ReplicaHandle] | None:
        """A variant by weight (or the targeted one), then its replica with the fewest requests in flight."""
        if target is not None:
            pool = [v for v in self.variants if v.name == target]
        else:
            pool = [v for v in self.variants if v.weight > 0]
        live = [(v, [r for r in v.replicas if r.replica_id not in exclude and not r.suspect]) for v in pool]
        live = [(v, rs) for v, rs in live if rs]
        if not live:
            return None
        if len(live) == 1:
            variant, rs = live[0]
        else:
            total = sum(v.weight for v, _ in live) or len(live)
            x = random.random() * total
            for variant, rs in live:
                x -= variant.weight or 1
                if x < 0:
                    break
        if len(rs) == 1:
            return variant, rs[0]
        low = min(r.outstanding for r in rs)
        return variant, random.choice([r for r in rs if r.outstanding == low])


class ServingRuntime:
    def __init__(self, settings: Settings, store: ArtifactStore) -> None:
        self.settings = settings
        self.store = store
        self.root = settings.home / "serving"
        self.models_dir = self.root / "models"
        self.logs_dir = self.root / "logs"
        self.routes: dict[str, Route] = {}
        self._model_lock = threading.Lock()
        self._gateway = None
        self._standby: tuple[subprocess.Popen[bytes], Path] | None = None
        self._standby_lock = threading.Lock()
        self._closed = False
        self._sockets: Path | None = None

    @property
    def gateway(self):  # type: ignore[no-untyped-def]
        if self._gateway is None:
            from slipway.serving.gateway import Gateway

            self._gateway = Gateway(self)
        return self._gateway

    # -- routing table ---------------------------------------------------------------------------

    def set_route(self, route: Route) -> None:
        self.routes = {**self.routes, route.endpoint: route}

    def drop_route(self, endpoint: str) -> None:
        self.routes = {k: v for k, v in self.routes.items() if k != endpoint}

    # -- model folders ---------------------------------------------------------------------------

    def model_dir(self, ref: str, key: str, sha256: str) -> Path:
        """The unpacked artifact of ``ref``, fetched through the store once and shared by its replicas."""
        folder = self.models_dir / f"{ref.replace(':', '-')}-{sha256[:16]}"
        with self._model_lock:
            if (folder / ".complete").exists():
                return folder
            self.models_dir.mkdir(parents=True, exist_ok=True)
            work = self.models_dir / f".{folder.name}.{uuid.uuid4().hex[:8]}"
            try:
                tar = work / "model.tar.gz"
                self.store.get_file(key, tar)
                unpack_artifact(tar, work / "artifact")
                tar.unlink()
                shutil.rmtree(folder, ignore_errors=True)
                (work / "artifact").rename(folder)
                (folder / ".complete").write_text(sha256)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return folder

    # -- processes -------------------------------------------------------------------------------

    def _socket_path(self, rid: str) -> str | None:
        """Where replica ``rid`` listens for the gateway: a Unix socket in a private (0700) folder.

        The folder is short-named under the system temp dir (socket paths are limited to ~100 bytes);
        None (TCP only) when that limit would still be passed.
        """
        with self._standby_lock:  # replicas of several endpoints start from several threads
            if self._sockets is None:
                self._sockets = Path(tempfile.mkdtemp(prefix="slipway-"))
            path = str(self._sockets / f"{rid}.sock")
        return path if len(path.encode()) < 100 else None

    def _args(self, folder: Path, endpoint: str, variant: str, options: dict[str, Any] | None = None,
              uds: str | None = None) -> list[str]:
        s = self.settings
        o = options or {}
        args = ["--artifact", str(folder), "--max-payload-bytes", str(s.max_payload_bytes),
                "--timeout", str(s.invocation_timeout), "--parent-pid", str(os.getpid()),
                "--name", f"{s.home}/{endpoint}/{variant}"]
        if uds is not None:
            args += ["--uds", uds]
        for key in ("max_batch_size", "max_batch_wait_ms", "max_queue", "workers"):
            if o.get(key) is not None:
                args += ["--" + key.replace("_", "-"), str(o[key])]
        if o.get("onnx") is False:
            args.append("--no-onnx")
        return args

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def prepare_standby(self) -> None:
        """Keep one warm spare process (imports done) so the next replica skips Python's start-up cost."""
        with self._standby_lock:
            if self._closed or (self._standby is not None and self._standby[0].poll() is None):
                return
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.logs_dir / f"standby-{uuid.uuid4().hex[:12]}.log"
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", REPLICA_MODULE, "--standby", "--parent-pid", str(os.getpid()),
                     "--name", f"{self.settings.home}/standby"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, env=self._env(),
                    start_new_session=True,
                )
            self._standby = (proc, log_path)

    def _take_standby(self) -> tuple[subprocess.Popen[bytes], Path] | None:
        with self._standby_lock:
            spare, self._standby = self._standby, None
        if spare is None or spare[0].poll() is not None:
            return None
        return spare

    def spawn(self, endpoint: str, variant: str, model: str, folder: Path, options: dict[str, Any] | None = None
              ) -> ReplicaHandle:
        """Start a replica, returning once its port is known (the model loads in the background)."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        spare = self._take_standby()
        threading.Thread(target=self.prepare_standby, daemon=True).start()
        rid = uuid.uuid4().hex[:12]
        uds = self._socket_path(rid)
        if spare is not None:
            proc, log_path = spare
            try:
                assert proc.stdin is not None and proc.stdout is not None
                args = [*self._args(folder, endpoint, variant, options, uds), "--port", "0", "--report-port"]
                proc.stdin.write(orjson.dumps(args) + b"\n")
                proc.stdin.close()
                ready, _, _ = select.select([proc.stdout], [], [], 30.0)
                line = proc.stdout.readline() if ready else b""
                port = int(orjson.loads(line)["port"])
                proc.stdout.close()
                return ReplicaHandle(endpoint, variant, model, port, proc, log_path, replica_id=rid,
                                     options=dict(options or {}), uds=uds)
            except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
                log.warning("The warm spare replica did not take the job; starting a fresh one", exc_info=True)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        # No spare: bind the socket here (no port race) and hand it to a fresh process.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(2048)
        port = sock.getsockname()[1]
        log_path = self.logs_dir / f"{endpoint}-{variant}-{rid}.log"
        args = [sys.executable, "-m", REPLICA_MODULE, *self._args(folder, endpoint, variant, options, uds),
                "--fd", str(sock.fileno())]
        try:
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        pass_fds=(sock.fileno(),), env=self._env(), start_new_session=True)
        finally:
            sock.close()
        return ReplicaHandle(endpoint, variant, model, port, proc, log_path, replica_id=rid,
                             options=dict(options or {}), uds=uds)

    def close(self) -> None:
        """Stop the warm spare and remove the sockets folder (replicas are stopped by the controller)."""
        with self._standby_lock:
            self._closed = True
            spare, self._standby = self._standby, None
        if spare is not None:
            proc = spare[0]
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)

    def wait_ready(self, handles: list[ReplicaHandle], timeout: float | None = None) -> None:
        """Block until every handle answers /ping 200; raise ReplicaFailed with the reason otherwise."""
        deadline = time.monotonic() + (timeout or self.settings.replica_start_timeout)
        pending = [h for h in handles if h.status == "Starting"]
        with httpx.Client(timeout=2.0) as http:
            while pending:
                for h in list(pending):
                    if not h.alive():
                        words = h.last_words() or f"exit status {h.proc.returncode}"
                        raise ReplicaFailed(f"replica for {h.model} exited before it was ready: {words}")
                    try:
                        if http.get(h.url + "/ping").status_code == 200:
                            h.status = "Ready"
                            pending.remove(h)
                    except httpx.HTTPError:
                        pass
                if not pending:
                    return
                if time.monotonic() > deadline:
                    raise ReplicaFailed(
                        f"replica for {pending[0].model} did not answer /ping within "
                        f"{timeout or self.settings.replica_start_timeout:g} s (setting 'replica_start_timeout')"
                    )
                time.sleep(0.02)

    def drain(self, handles: list[ReplicaHandle], timeout: float | None = None) -> None:
        """Wait (bounded) for requests in flight on ``handles`` to finish; they are out of every route."""
        for h in handles:
            h.status = "Draining"
        deadline = time.monotonic() + (timeout or self.settings.drain_timeout)
        time.sleep(0.05)  # a request that picked the old route just before the swap is counted by now
        while any(h.outstanding > 0 and h.alive() for h in handles) and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self, handles: list[ReplicaHandle], timeout: float = 10.0) -> None:
        for h in handles:
            if h.alive():
                with contextlib.suppress(ProcessLookupError):
                    h.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for h in handles:
            try:
                h.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                h.proc.kill()
                h.proc.wait()
            h.status = "Stopped"


def kill_leftover(pid: int, home: Path) -> bool:
    """Stop a replica an earlier server on this home left running (only if it really is one)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if REPLICA_MODULE.encode() not in cmdline or not any(a.startswith(str(home).encode() + b"/") for a in cmdline):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return True
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    return True
