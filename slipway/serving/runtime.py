"""The server side of serving: model folders fetched from the store, replica processes, the routing table.

The endpoint controller starts, adopts and stops replicas through this object; the gateway reads its
routing table. Routes are immutable snapshots swapped in one assignment, so a request never sees half an
update.

Replicas outlive the server process: they do not watch its pid but a lease file the server renews
(``home/serving/lease``). A replica whose lease is older than the setting ``replica_orphan_timeout`` stops
by itself, so replicas serve through a crash and a restart of the server, yet none lives on for good when
no server comes back. Their Unix sockets live in a folder that is the same for every server on one home,
so the next server finds them again.

Replicas run user code (they unpickle models and import ``inference.py``), so each starts in the
sandbox: it reads its own model folder and writes only its private folder (its Unix socket, TMPDIR and
HOME), one folder per replica, so that none can replace another's socket. A fresh replica starts through
the Landlock launcher; the warm standby gets its policy with its arguments and confines a forked child.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson

from slipway.monitoring.capture import CaptureBuffer
from slipway.monitoring.recorder import InvocationMetrics
from slipway.sandbox import Sandbox, user_environment
from slipway.serving.copies import ModelCopies
from slipway.serving.processes import (
    REPLICA_MODULE,
    AdoptedProcess,
    is_replica_of,
    process_start,
    replicas_of_home,
    terminate,
)
from slipway.settings import Settings
from slipway.storage import ArtifactStore

__all__ = ["REPLICA_MODULE", "ReplicaFailed", "ReplicaHandle", "ReplicaProcess", "Route", "ServingRuntime", "VariantRoute",
           "open_serving_runtime"]

log = logging.getLogger("slipway.serving")


class ReplicaFailed(Exception):
    """A replica did not become ready; the message says why (its own last words when it has any)."""


class ReplicaProcess(Protocol):
    """What a handle needs of the thing running a replica: a local process (``subprocess.Popen``,
    ``AdoptedProcess``) or a replica elsewhere (a Ray actor, ``slipway.serving.ray_runtime``)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...
    def wait(self, timeout: float | None = None) -> int: ...


@dataclass(eq=False)
class ReplicaHandle:
    endpoint: str
    variant: str
    model: str
    port: int
    proc: subprocess.Popen[bytes] | AdoptedProcess | ReplicaProcess  # adopted: started by an earlier server process
    log_path: Path
    replica_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    outstanding: int = 0  # requests in flight, changed only on the server's event loop
    status: str = "Starting"  # Starting | Ready | Draining | Stopped
    suspect: bool = False  # the gateway could not reach it
    options: dict[str, Any] = field(default_factory=dict)  # ServingOptions it was started with
    uds: str | None = None  # the replica's Unix socket: the gateway's way in (cheaper than TCP on loopback)
    folder: Path | None = None  # the private model copy it serves from
    proc_start: int = 0  # the process's start time (/proc), which tells it from a later process with its pid
    host: str | None = None  # None: a process on this machine (loopback); else the node it runs on (Ray)

    @property
    def url(self) -> str:
        return f"http://{self.host or '127.0.0.1'}:{self.port}"

    @property
    def address(self) -> int | str | tuple[str, int]:
        """Where the gateway sends requests: its Unix socket, a loopback port, or (host, port) on another node."""
        if self.host is not None:
            return (self.host, self.port)
        return self.uds or self.port

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_words(self, limit: int = 1500) -> str:
        remote = getattr(self.proc, "last_words", None)  # a replica on another node keeps its log there
        try:
            text = (remote() if remote is not None else self.log_path.read_text(errors="replace")).strip()
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
    scaling: dict[str, Any] | None = None  # autoscaled: the gateway queues while no replica can take a request

    def handles(self) -> list[ReplicaHandle]:
        return [r for v in self.variants for r in v.replicas]

    def servable(self) -> bool:
        """Whether some variant that takes traffic has a replica the gateway has not given up on."""
        return any(not r.suspect for v in self.variants if v.weight > 0 for r in v.replicas)

    def pick(self, target: str | None = None, exclude: frozenset[str] = frozenset()
             ) -> tuple[VariantRoute, ReplicaHandle] | None:
        """A variant by weight (or the targeted one), then its replica with the fewest requests in flight."""
        if target is None and not exclude and len(self.variants) == 1:  # the common case, without allocations
            only = self.variants[0]
            if only.weight > 0 and len(only.replicas) == 1 and not only.replicas[0].suspect:
                return only, only.replicas[0]
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
    """The replica runtime interface, implemented here for local processes (the default).

    The endpoint controller, the route mirror and the gateway use only this interface:

    - ``spawn`` (start) a replica from a model folder; ``wait_ready`` / ``wait_each_ready`` and
      ``ReplicaHandle.alive`` (health); ``stop`` and ``stop_leftovers``; ``ReplicaHandle.address``
      (where the gateway proxies to); ``adopt`` (after a restart, from the ``endpoint_replicas`` row) and
      ``observe`` (a server that does not lead the endpoints routes to a recorded replica);
      ``check`` at start and ``describe`` for ``slipway status``.

    ``slipway.serving.ray_runtime.RayServingRuntime`` implements the same for replicas as Ray actors;
    ``open_serving_runtime`` picks one from the setting ``serving_runtime_url``.
    """

    kind = "local"

    def __init__(self, settings: Settings, store: ArtifactStore, sandbox: Sandbox | None = None,
                 metrics: InvocationMetrics | None = None, capture: CaptureBuffer | None = None) -> None:
        self.settings = settings
        self.store = store
        self.sandbox = sandbox or Sandbox(home=settings.home, mode="off")
        self.metrics = metrics if metrics is not None else InvocationMetrics()
        self.capture = capture if capture is not None else CaptureBuffer(settings.capture_queue,
                                                                         settings.capture_max_per_second)
        self.root = settings.home / "serving"
        self.models_dir = self.root / "models"
        self.logs_dir = self.root / "logs"
        self.lease = self.root / "lease"
        self.copies = ModelCopies(self.models_dir, store)
        self._lease_renewed = 0.0
        self.routes: dict[str, Route] = {}
        self._gateway = None
        # Gateways of this process's own senders (async invocations, transform jobs) on loops of their own:
        # their requests waiting for a replica look again at each route change too.
        self.senders: set[Any] = set()
        self._standby: tuple[subprocess.Popen[bytes], Path] | None = None
        self._standby_lock = threading.Lock()
        self._standby_holds = 0  # batch transforms running: the spare taken is not replaced until they end
        self._closed = False
        self._sockets: Path | None = None
        # Set by the autoscaler: called (from the event loop) when a request waits for a replica of an endpoint.
        self.on_demand: Callable[[str], None] | None = None

    @property
    def gateway(self):  # type: ignore[no-untyped-def]
        if self._gateway is None:
            from slipway.serving.gateway import Gateway

            self._gateway = Gateway(self)
        return self._gateway

    # -- routing table ---------------------------------------------------------------------------

    def set_route(self, route: Route) -> None:
        self.routes = {**self.routes, route.endpoint: route}
        for g in [self._gateway, *list(self.senders)]:
            if g is not None:
                g.route_changed(route.endpoint)  # requests waiting for a replica look again

    def routes_changed(self, endpoints: list[str]) -> None:
        """After ``routes`` was replaced whole (RouteMirror): requests waiting on these endpoints look again."""
        for name in endpoints:
            for g in [self._gateway, *list(self.senders)]:
                if g is not None:
                    g.route_changed(name)

    def drop_route(self, endpoint: str) -> None:
        self.routes = {k: v for k, v in self.routes.items() if k != endpoint}
        for g in [self._gateway, *list(self.senders)]:
            if g is not None:
                g.route_changed(endpoint)

    # -- model folders ---------------------------------------------------------------------------

    def model_dir(self, ref: str, key: str, sha256: str) -> Path:
        """The unpacked artifact of ``ref`` (a private copy shared by its replicas), for the next ``spawn``.

        Pass it to ``spawn`` at once: the copy is kept until the last replica started from it stops.
        """
        self._private_root()
        return self.copies.acquire(ref, key, sha256)

    def remove_model_copies(self, ref: str) -> None:
        """Model version ``ref`` was deleted: remove its serving copies (one still in use goes with its replica)."""
        for copy in self.copies.remove(ref):
            log.info("Removed the serving copy %s of deleted model version %s", copy.name, ref)

    def _private_root(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)

    # -- lease -------------------------------------------------------------------------------------

    def renew_lease(self, force: bool = False) -> None:
        """Tell this home's replicas a server is still there (they stop ``replica_orphan_timeout`` s after)."""
        now = time.monotonic()
        if not force and now - self._lease_renewed < min(2.0, self.settings.replica_orphan_timeout / 4):
            return
        self._private_root()
        self.lease.touch()
        os.utime(self.lease)
        self._lease_renewed = now

    # -- processes -------------------------------------------------------------------------------

    def _private_dir(self, rid: str) -> Path:
        """Replica ``rid``'s own folder (0700): its Unix socket, TMPDIR and HOME; the only place it may write.

        In the sockets folder (one folder per replica, so that none can replace another's socket), or in
        the system temp dir when there is no sockets folder.
        """
        with self._standby_lock:  # replicas of several endpoints start from several threads
            if self._sockets is None:
                self._sockets = self._sockets_dir()
            sockets = self._sockets
        if sockets is None:
            return Path(tempfile.mkdtemp(prefix=f"slipway-replica-{rid}-"))
        folder = sockets / rid
        folder.mkdir(mode=0o700)
        return folder

    def _socket_path(self, rid: str) -> str | None:
        """Where replica ``rid`` listens for the gateway: a Unix socket in its private (0700) folder.

        The folder is the same for every server on this home, so a restarted server reaches the replicas
        of the one before: ``home/serving/sockets`` or, when that path is too long for a socket (~100
        bytes), a folder in the system temp dir named after the home. None (TCP only) when neither fits.
        """
        with self._standby_lock:  # replicas of several endpoints start from several threads
            if self._sockets is None:
                self._sockets = self._sockets_dir()
            if self._sockets is None:
                return None
            path = str(self._sockets / rid / "r.sock")
        return path if len(path.encode()) < 100 else None

    def _sockets_dir(self) -> Path | None:
        folder = self.root / "sockets"
        if len(str(folder / "0123456789ab" / "r.sock").encode()) >= 100:
            digest = hashlib.sha256(str(self.settings.home).encode()).hexdigest()[:12]
            folder = Path(tempfile.gettempdir()) / f"slipway-{os.getuid()}-{digest}"
        try:
            self._private_root()
            folder.mkdir(mode=0o700, exist_ok=True)
            info = os.lstat(folder)
            # In a shared temp dir a folder of that name may be someone else's: then TCP only.
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                log.warning("%s is not a folder of this user; replicas listen on TCP only", folder)
                return None
            os.chmod(folder, 0o700)
        except OSError as exc:
            log.warning("No folder for the replicas' Unix sockets (%s); they listen on TCP only", exc)
            return None
        return folder

    def _args(self, folder: Path, endpoint: str, variant: str, options: dict[str, Any] | None = None,
              uds: str | None = None, private: Path | None = None) -> list[str]:
        s = self.settings
        o = options or {}
        args = ["--artifact", str(folder), "--max-payload-bytes", str(s.max_payload_bytes),
                "--timeout", str(s.invocation_timeout), "--lease", str(self.lease),
                "--orphan-timeout", str(s.replica_orphan_timeout), "--name", f"{s.home}/{endpoint}/{variant}"]
        if private is not None:
            args += ["--private-dir", str(private)]
        if uds is not None:
            args += ["--uds", uds]
        for key in ("max_batch_size", "max_batch_wait_ms", "max_queue", "workers"):
            if o.get(key) is not None:
                args += ["--" + key.replace("_", "-"), str(o[key])]
        if o.get("onnx") is False:
            args.append("--no-onnx")
        return args

    def _env(self) -> dict[str, str]:
        env = user_environment(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def prepare_standby(self) -> None:
        """Keep one warm spare process (imports done) so the next replica skips Python's start-up cost
        (unless the setting ``warm_spare`` is off)."""
        if not self.settings.warm_spare:
            return
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

    @contextlib.contextmanager
    def standby_deferred(self) -> Any:
        """While held (a batch transform runs), taking the warm spare does not start the next one at once: its
        start (a Python process importing the serving stack, a CPU-second or more) would compete with the job
        for the CPUs. The next spare starts when the last hold ends."""
        with self._standby_lock:
            self._standby_holds += 1
        try:
            yield
        finally:
            with self._standby_lock:
                self._standby_holds -= 1
                last = self._standby_holds == 0
            if last and not self._closed:
                threading.Thread(target=self.prepare_standby, daemon=True).start()

    def _take_standby(self) -> tuple[subprocess.Popen[bytes], Path] | None:
        with self._standby_lock:
            spare, self._standby = self._standby, None
        if spare is None or spare[0].poll() is not None:
            return None
        return spare

    def spawn(self, endpoint: str, variant: str, model: str, folder: Path, options: dict[str, Any] | None = None
              ) -> ReplicaHandle:
        """Start a replica, returning once its port is known (the model loads in the background).

        ``folder`` comes from ``model_dir``: the replica now holds it (or, when it fails to start, lets it go).
        """
        rid = uuid.uuid4().hex[:12]
        try:
            self.renew_lease(force=True)  # the replica's first look at the lease must find it fresh
            self.logs_dir.mkdir(parents=True, exist_ok=True)
            private = self._private_dir(rid)
            uds = self._socket_path(rid)
            proc, port, log_path = self._start_process(endpoint, variant, folder, options, rid, uds, private)
        except BaseException:
            self.copies.abandon(folder)
            raise
        self.copies.attach(folder, rid)
        return ReplicaHandle(endpoint, variant, model, port, proc, log_path, replica_id=rid,
                             options=dict(options or {}), uds=uds, folder=folder,
                             proc_start=process_start(proc.pid) or 0)

    def _python_for(self, folder: Path) -> tuple[str, list[Path]]:
        """The Python for the model's code/requirements.txt (the cached environment its job built, or one built
        now in the sandbox: pip may run a package's build code) and what a replica must read of it; ours if none."""
        from slipway.training.environments import environment_dir, is_ready, python_of

        req = folder / "code" / "requirements.txt"
        if not req.is_file():
            return sys.executable, []
        env_dir = environment_dir(self.settings.envs_dir, req.read_bytes())
        if not is_ready(env_dir):
            scratch = env_dir / ".slipway-tmp"
            scratch.mkdir(parents=True, exist_ok=True)
            cmd = self.sandbox.wrap([sys.executable, "-m", "slipway.training.environments", str(req),
                                     str(self.settings.envs_dir)], read=[folder], write=[env_dir])
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=1800,
                                      env={**self._env(), "TMPDIR": str(scratch), "HOME": str(scratch)})
            except subprocess.TimeoutExpired:
                raise ReplicaFailed("Installing the model's code/requirements.txt took longer than 30 min") from None
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            if done.returncode != 0:
                words = "\n".join(done.stderr.strip().splitlines()[-8:])
                raise ReplicaFailed(f"The model's code/requirements.txt could not be installed for its replicas: {words}")
        return python_of(env_dir), [env_dir]

    def _start_process(self, endpoint: str, variant: str, folder: Path, options: dict[str, Any] | None, rid: str,
                       uds: str | None, private: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
        # Raises SandboxUnavailable (setting 'landlock' on a kernel without it) before anything starts.
        confined = self.sandbox.active
        python, env_read = self._python_for(folder)
        # The standby runs our Python; a model with its own requirements.txt starts in its environment.
        spare = self._take_standby() if python == sys.executable else None
        if not self._standby_holds:
            threading.Thread(target=self.prepare_standby, daemon=True).start()
        if spare is not None:
            proc, log_path = spare
            try:
                assert proc.stdin is not None and proc.stdout is not None
                args = [*self._args(folder, endpoint, variant, options, uds, private), "--port", "0", "--report-port"]
                if confined:
                    args += ["--sandbox", orjson.dumps(self.sandbox.policy(read=[folder], write=[private])).decode()]
                proc.stdin.write(orjson.dumps(args) + b"\n")
                proc.stdin.close()
                ready, _, _ = select.select([proc.stdout], [], [], 30.0)
                line = proc.stdout.readline() if ready else b""
                port = int(orjson.loads(line)["port"])
                proc.stdout.close()
                named = self.logs_dir / f"{endpoint}-{variant}-{rid}.log"
                with contextlib.suppress(OSError):  # the log of a replica is found by its name (logs API)
                    log_path = log_path.rename(named)
                return proc, port, log_path
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
        args = self.sandbox.wrap([python, "-m", REPLICA_MODULE,
                                  *self._args(folder, endpoint, variant, options, uds, private),
                                  "--fd", str(sock.fileno())], read=[folder, *env_read], write=[private])
        try:
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        pass_fds=(sock.fileno(),), env=self._env(), start_new_session=True)
        finally:
            sock.close()
        return proc, port, log_path

    def adopt(self, endpoint: str, variant: str, model: str, replica_id: str, pid: int, proc_start: int, port: int,
              uds: str | None, folder: str, options: dict[str, Any] | None, started_at: float,
              timeout: float = 2.0, host: str | None = None) -> ReplicaHandle | None:
        """Take over a replica an earlier server on this home started, if it is still the same process and
        answers /ping within ``timeout``; None otherwise (the caller stops what is left of it)."""
        if host is not None:
            return None  # recorded by another runtime (Ray)
        if not proc_start or process_start(pid) != proc_start or not is_replica_of(pid, self.settings.home):
            return None
        proc = AdoptedProcess(pid, proc_start)
        log_path = self.logs_dir / f"{endpoint}-{variant}-{replica_id}.log"
        h = ReplicaHandle(endpoint, variant, model, port, proc, log_path, replica_id=replica_id,
                          started_at=started_at, options=dict(options or {}),
                          uds=uds if uds and os.path.exists(uds) else None,
                          folder=Path(folder) if folder else None, proc_start=proc_start)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=max(0.2, timeout / 2)) as http:
            while h.alive() and time.monotonic() < deadline:
                try:
                    if http.get(h.url + "/ping").status_code == 200:
                        h.status = "Ready"
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        if h.status != "Ready":
            return None
        if h.folder is not None:
            self.copies.attach(h.folder, h.replica_id, pending=False)
        return h

    def observe(self, record: Any, known: ReplicaHandle | None = None) -> ReplicaHandle | None:
        """A handle for a replica another server (the endpoints' leader) recorded, for this server's routes;
        None when it is not reachable from here (a process on another machine, or gone)."""
        if known is not None and known.pid == record.pid and known.host == record.host:
            return known if known.alive() else None
        if record.host is not None:
            return None  # another runtime's replica (Ray): not for a local runtime
        proc = AdoptedProcess(record.pid, record.proc_start)
        if not record.proc_start or proc.poll() is not None:
            return None  # not on this machine, or gone
        h = ReplicaHandle(record.endpoint, record.variant, record.model, record.port, proc,
                          self.logs_dir / f"{record.endpoint}-{record.variant}-{record.replica_id}.log",
                          replica_id=record.replica_id, started_at=record.started_at,
                          options=dict(record.options or {}),
                          uds=record.uds if record.uds and os.path.exists(record.uds) else None,
                          proc_start=record.proc_start)
        h.status = "Ready"
        return h

    def check(self) -> None:
        """Fail at start, with what to check, when the runtime cannot be reached (nothing to reach locally)."""

    def describe(self) -> str:
        """The runtime in use, for ``slipway status`` (no secrets)."""
        return "local: replica processes on this machine"

    def stop_leftovers(self, keep: set[int]) -> list[int]:
        """Stop every replica of this home outside ``keep`` (adopted ones): what an earlier server left."""
        pids = replicas_of_home(self.settings.home, keep)
        terminate(pids)
        return pids

    def remove_unused_copies(self) -> None:
        for copy in self.copies.remove_unused():
            log.info("Removed the serving copy %s: no replica uses it", copy.name)

    def close(self) -> None:
        """Stop the warm spare and give up the lease (replicas are stopped by the controller before)."""
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
        # Any replica a failed stop left behind sees the lease gone and stops within a second.
        self.lease.unlink(missing_ok=True)
        if self._sockets is not None and self.root not in self._sockets.parents:
            with contextlib.suppress(OSError):  # the folder in the temp dir, when no socket is left in it
                self._sockets.rmdir()

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

    def wait_each_ready(self, handles: list[ReplicaHandle], on_ready: Callable[[ReplicaHandle], None],
                        timeout: float | None = None) -> list[ReplicaHandle]:
        """Call ``on_ready`` for each handle the moment it answers /ping 200, in whatever order they come up.

        Returns the handles that did not (exited, or not ready within ``timeout``); the caller stops them.
        """
        deadline = time.monotonic() + (timeout or self.settings.replica_start_timeout)
        pending = [h for h in handles if h.status == "Starting"]
        failed: list[ReplicaHandle] = []
        with httpx.Client(timeout=2.0) as http:
            while pending and time.monotonic() <= deadline:
                for h in list(pending):
                    if not h.alive():
                        log.warning("Replica %s for %s exited before it was ready: %s", h.replica_id, h.model,
                                    h.last_words() or f"exit status {h.proc.returncode}")
                        pending.remove(h)
                        failed.append(h)
                        continue
                    try:
                        up = http.get(h.url + "/ping").status_code == 200
                    except httpx.HTTPError:
                        up = False
                    if up:
                        h.status = "Ready"
                        pending.remove(h)
                        on_ready(h)
                if pending:
                    time.sleep(0.02)
        return failed + pending

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
            if h.folder is not None:
                self.copies.release(h.folder, h.replica_id)


def open_serving_runtime(settings: Settings, store: ArtifactStore, sandbox: Sandbox | None = None,
                         metrics: InvocationMetrics | None = None, capture: CaptureBuffer | None = None
                         ) -> ServingRuntime:
    """The replica runtime the setting ``serving_runtime_url`` names: ``local`` or ``ray://HOST:PORT``."""
    from slipway.errors import InvalidArgument

    url = settings.serving_runtime_url.strip()
    if url in ("", "local"):
        return ServingRuntime(settings, store, sandbox, metrics, capture)
    if url.startswith(("ray://", "ray+gcs://")):
        from slipway.serving.ray_runtime import RayServingRuntime

        return RayServingRuntime(settings, store, sandbox, metrics, capture)
    raise InvalidArgument(
        f"Setting 'serving_runtime_url' has value {url!r}. Expected 'local' (replica processes on this machine), "
        "'ray://HOST:PORT' (replicas as Ray actors, through the Ray Client port of the head node) or "
        "'ray+gcs://HOST:PORT' (the same from a server on a machine of the Ray cluster, through the head's GCS port).",
        {"field": "serving_runtime_url", "value": url})
