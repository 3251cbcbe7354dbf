"""Endpoint replicas as Ray actors (setting ``serving_runtime_url = "ray://HOST:PORT"``, extra ``ray``).

The same replica runtime interface as local processes (``ServingRuntime``): the endpoint controller
starts, adopts and stops replicas through it, Slipway's autoscaler decides their count, and the gateway
proxies to each replica's address behind Slipway's access control and metrics. Ray only places them.

Each replica is one detached, named Ray actor (``slipway-replica-<id>`` in a namespace derived from the
database, so every server on that database finds the same actors). The actor receives the model
artifact (the decrypted copy, packed, through Ray's object store: the node needs no access to the
artifact store), unpacks it into a private folder on its node and starts Slipway's replica server
there, ``python -m slipway.serving.replica``, in the same sandbox as a local replica (it reads its model
folder, writes its private folder). The replica listens on the node's address; the actor's only jobs
are starting it, reporting its address and exit status, and stopping it. The replica watches the actor
(``--parent-pid``), so killing the actor stops it.

Why plain actors and not Ray Serve deployments: Serve brings its own HTTP proxy (without
authentication), router and autoscaler, which would sit beside Slipway's gateway and autoscaler and
fight them over the replica count; with actors Slipway's routing, queueing and scaling stay one code
path for every runtime. docs/scale-out.md has the start-up times measured for both.

Replicas are detached: they serve through a crash of the server, and the next leader of the endpoints
controller (on any machine) adopts them by name; a server's start-up stops the actors of its namespace
it did not adopt. Every Ray node needs this version of Slipway and Python (checked when connecting).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from slipway.errors import InvalidArgument, Unavailable
from slipway.serving.processes import REPLICA_MODULE
from slipway.serving.runtime import ReplicaFailed, ReplicaHandle, ServingRuntime

__all__ = ["ACTOR_PREFIX", "REPLICA_CPUS", "RayServingRuntime", "ReplicaActor"]

log = logging.getLogger("slipway.serving.ray")
ACTOR_PREFIX = "slipway-replica-"
REPLICA_CPUS = 0.5  # what Ray reserves per replica when placing it (the replica itself may use more)


def _versions() -> dict[str, str]:
    import ray

    from slipway import __version__

    return {"python": f"{sys.version_info[0]}.{sys.version_info[1]}", "ray": ray.__version__, "slipway": __version__}


class ReplicaActor:
    """Runs on a Ray node (wrapped with ``ray.remote`` by the runtime): one replica process and its folder."""

    def __init__(self, artifact: bytes, args: list[str], sandbox_mode: str, name: str) -> None:
        import orjson
        import ray

        from slipway.sandbox import Sandbox, user_environment
        from slipway.serving.copies import make_private

        self.host = ray.util.get_node_ip_address()
        base = Path(tempfile.gettempdir()) / f"slipway-ray-replicas-{os.getuid()}"
        base.mkdir(mode=0o700, exist_ok=True)
        os.chmod(base, 0o700)
        self.folder = Path(tempfile.mkdtemp(prefix="r-", dir=base))
        model, private = self.folder / "model", self.folder / "private"
        model.mkdir(mode=0o700)
        private.mkdir(mode=0o700)
        with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
            tar.extractall(model, filter="data")
        make_private(model)
        self.log_path = self.folder / "replica.log"
        # The box's "home" is the folder of every replica on this node: none reads another's model.
        sandbox = Sandbox(home=base, mode=sandbox_mode)
        cmd = sandbox.wrap([sys.executable, "-m", REPLICA_MODULE, "--artifact", str(model), "--host", self.host,
                            "--port", "0", "--report-port", "--parent-pid", str(os.getpid()),
                            "--private-dir", str(private), "--name", f"ray/{name}", *args],
                           read=[model], write=[private])
        env = user_environment(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=out, stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 60.0)
        line = self.proc.stdout.readline() if ready else b""
        self.proc.stdout.close()
        try:
            self.port = int(orjson.loads(line)["port"]) if line else 0
        except (ValueError, KeyError, TypeError):
            self.port = 0

    def info(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "pid": self.proc.pid}

    def poll(self) -> int | None:
        return self.proc.poll()

    def last_words(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)

    def stop(self, timeout: float) -> int:
        """SIGTERM (the replica finishes its requests in flight), SIGKILL after ``timeout``; remove the folder."""
        self.signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        return code


class ActorProcess:
    """The process calls the runtime makes on a handle (``poll``, ``send_signal``, ``kill``, ``wait``), for an actor.

    ``poll`` never blocks (the gateway may ask on its event loop, the controller every pass): it asks the
    actor at most once a second in the background and answers with what the last answer said. An actor
    that is gone (its node died, or it was killed) counts as exited with -1.
    """

    def __init__(self, actor: Any, pid: int) -> None:
        self.actor = actor
        self.pid = pid
        self.returncode: int | None = None
        self._checked = 0.0
        self._pending: Any = None  # the object ref of a poll in flight

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        import ray

        pending = self._pending  # read once: the controller's threads and the event loop all poll
        if pending is not None:
            ready, _ = ray.wait([pending], timeout=0)
            if not ready:
                return None
            self._pending = None
            self._checked = time.monotonic()
            try:
                self.returncode = ray.get(pending)
            except ray.exceptions.RayError:
                self.returncode = -1
            return self.returncode
        if time.monotonic() - self._checked >= 1.0:
            self._checked = time.monotonic()
            with contextlib.suppress(Exception):
                self._pending = self.actor.poll.remote()
        return None

    def send_signal(self, sig: int) -> None:
        with contextlib.suppress(Exception):
            self.actor.signal.remote(sig)

    def kill(self) -> None:
        import ray

        with contextlib.suppress(Exception):
            ray.kill(self.actor, no_restart=True)
        if self.returncode is None:
            self.returncode = -signal.SIGKILL

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._pending is None:
                self._checked = 0.0
            if self.poll() is not None:
                assert self.returncode is not None
                return self.returncode
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"actor of pid {self.pid}", timeout or 0.0)
            time.sleep(0.1)

    def last_words(self) -> str:
        import ray

        try:
            return str(ray.get(self.actor.last_words.remote(), timeout=5.0))
        except Exception:
            return ""


class RecordedProcess:
    """A replica another server started and recorded (the route mirror's view): alive while recorded.

    The endpoints' leader removes a dead replica from the table; until then the gateway marks it suspect
    when it does not answer, and tries another.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return None

    def send_signal(self, sig: int) -> None:
        """Not this server's to stop."""

    def kill(self) -> None:
        """Not this server's to stop."""

    def wait(self, timeout: float | None = None) -> int:
        return 0


def _pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for entry in sorted(folder.iterdir()):
            if entry.name != ".complete":
                tar.add(entry, arcname=entry.name)
    return buf.getvalue()


class RayServingRuntime(ServingRuntime):
    kind = "ray"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = self.settings.serving_runtime_url.strip()
        parts = urlsplit(self.url)
        if parts.scheme not in ("ray", "ray+gcs") or not parts.hostname or not parts.port:
            raise InvalidArgument(
                f"Setting 'serving_runtime_url' has value {self.safe_url!r}. Expected ray://HOST:PORT (the Ray "
                "Client port of the head node) or ray+gcs://HOST:PORT (the head's GCS port, for a server on a "
                "machine of the cluster).", {"field": "serving_runtime_url", "value": self.safe_url})
        self.address = (parts.hostname, parts.port)
        # Ray Client (a server outside the cluster) or a driver on a node of the cluster (through its GCS).
        self.ray_address = self.url if parts.scheme == "ray" else f"{parts.hostname}:{parts.port}"
        digest = hashlib.sha256(_without_password(self.settings.database_url).encode()).hexdigest()[:12]
        self.namespace = f"slipway-{digest}"  # every server on one database shares its replicas
        self._connected = False
        self._connect_lock = threading.Lock()
        self._adopted: set[str] = set()

    @property
    def safe_url(self) -> str:
        return _without_password(self.url)

    # -- connection --------------------------------------------------------------------------------

    def _ray(self) -> Any:
        with self._connect_lock:
            if not self._connected:
                self._connect()
                self._connected = True
        import ray

        return ray

    def _connect(self) -> None:
        where = f"the Ray cluster at {self.safe_url} (setting 'serving_runtime_url')"
        try:
            with socket.create_connection(self.address, timeout=5.0):
                pass
        except OSError as exc:
            raise Unavailable(
                f"Cannot reach {where}: {exc}. Check that the Ray head is running (`ray start --head "
                "--port=GCS_PORT --ray-client-server-port=CLIENT_PORT`) and that this machine can reach that port.",
                {"field": "serving_runtime_url", "value": self.safe_url}) from None
        try:
            import ray
        except ImportError:
            raise InvalidArgument(
                f"Setting 'serving_runtime_url' names {where}, and Ray is not installed: pip install 'slipway[ray]'.",
                {"field": "serving_runtime_url", "value": self.safe_url}) from None
        if not ray.is_initialized():  # another part of this server (the Ray executor) may have connected already
            try:
                ray.init(address=self.ray_address, namespace=self.namespace, logging_level=logging.WARNING,
                         log_to_driver=False)
            except Exception as exc:
                raise Unavailable(f"Cannot connect to {where}: {type(exc).__name__}: {exc}. Check that the "
                                  "cluster runs the same Ray and Python versions as this server.",
                                  {"field": "serving_runtime_url", "value": self.safe_url}) from None
        mine = _versions()
        theirs = ray.get(ray.remote(num_cpus=0)(_versions).remote(), timeout=120)
        if theirs != mine:
            raise InvalidArgument(
                f"The Ray cluster at {self.safe_url} runs {_show(theirs)}, and this server {_show(mine)}. Install "
                "the same Python, Ray and Slipway versions on every Ray node as on the servers.",
                {"field": "serving_runtime_url", "value": self.safe_url, "cluster": theirs, "server": mine})
        log.info("Endpoint replicas run on the Ray cluster at %s (namespace %s)", self.safe_url, self.namespace)

    def check(self) -> None:
        self._ray()

    def describe(self) -> str:
        return f"ray: {self.safe_url} (a Ray actor per replica)"

    # -- the runtime interface ------------------------------------------------------------------

    def prepare_standby(self) -> None:
        """No warm spare: a Ray worker process is the actor's."""

    def _replica_args(self, options: dict[str, Any] | None) -> list[str]:
        s, o = self.settings, options or {}
        args = ["--max-payload-bytes", str(s.max_payload_bytes), "--timeout", str(s.invocation_timeout)]
        for key in ("max_batch_size", "max_batch_wait_ms", "max_queue", "workers"):
            if o.get(key) is not None:
                args += ["--" + key.replace("_", "-"), str(o[key])]
        if o.get("onnx") is False:
            args.append("--no-onnx")
        return args

    def spawn(self, endpoint: str, variant: str, model: str, folder: Path, options: dict[str, Any] | None = None
              ) -> ReplicaHandle:
        """Start an actor on the cluster with the model copy in ``folder``; returns once its address is known."""
        try:
            ray = self._ray()
            artifact = _pack(folder)
        finally:
            self.copies.abandon(folder)  # the node has its own copy; none stays on the server for it
        rid = uuid.uuid4().hex[:12]
        actor = ray.remote(ReplicaActor).options(
            name=ACTOR_PREFIX + rid, namespace=self.namespace, lifetime="detached", num_cpus=REPLICA_CPUS,
            max_concurrency=4, max_restarts=0,
        ).remote(artifact, self._replica_args(options), self.sandbox.mode, f"{endpoint}/{variant}")
        try:
            info = ray.get(actor.info.remote(), timeout=self.settings.replica_start_timeout)
        except ray.exceptions.GetTimeoutError:
            ray.kill(actor, no_restart=True)
            raise ReplicaFailed(
                f"the Ray cluster at {self.safe_url} did not place a replica for {model} within "
                f"{self.settings.replica_start_timeout:g} s (setting 'replica_start_timeout'). Each replica asks "
                f"for {REPLICA_CPUS} CPU: check `ray status` for free CPUs.") from None
        except ray.exceptions.RayError as exc:
            with contextlib.suppress(Exception):
                ray.kill(actor, no_restart=True)
            raise ReplicaFailed(f"the replica actor for {model} failed to start on Ray: {exc}") from None
        h = ReplicaHandle(endpoint, variant, model, int(info["port"]), ActorProcess(actor, int(info["pid"])),
                          self.logs_dir / f"{endpoint}-{variant}-{rid}.log", replica_id=rid,
                          options=dict(options or {}), host=str(info["host"]))
        if not h.port:
            words = h.last_words() or "no address reported"
            self.stop([h], timeout=2.0)
            raise ReplicaFailed(f"replica for {model} exited before it was ready on Ray: {words}")
        return h

    def stop(self, handles: list[ReplicaHandle], timeout: float = 10.0) -> None:
        ray_handles = [h for h in handles if isinstance(h.proc, ActorProcess)]
        super().stop([h for h in handles if not isinstance(h.proc, ActorProcess)], timeout)
        if not ray_handles:
            return
        import ray

        pending = []
        for h in ray_handles:
            assert isinstance(h.proc, ActorProcess)
            with contextlib.suppress(Exception):
                pending.append(h.proc.actor.stop.remote(timeout))
        with contextlib.suppress(Exception):
            ray.get(pending, timeout=timeout + 5.0)
        for h in ray_handles:
            h.proc.kill()
            h.status = "Stopped"
            self._adopted.discard(h.replica_id)

    def adopt(self, endpoint: str, variant: str, model: str, replica_id: str, pid: int, proc_start: int, port: int,
              uds: str | None, folder: str, options: dict[str, Any] | None, started_at: float,
              timeout: float = 2.0, host: str | None = None) -> ReplicaHandle | None:
        if host is None:
            return super().adopt(endpoint, variant, model, replica_id, pid, proc_start, port, uds, folder, options,
                                 started_at, timeout)
        ray = self._ray()
        try:
            actor = ray.get_actor(ACTOR_PREFIX + replica_id, namespace=self.namespace)
            info = ray.get(actor.info.remote(), timeout=max(timeout, 5.0))
        except (ValueError, ray.exceptions.RayError):
            return None
        h = ReplicaHandle(endpoint, variant, model, int(info["port"]), ActorProcess(actor, int(info["pid"])),
                          self.logs_dir / f"{endpoint}-{variant}-{replica_id}.log", replica_id=replica_id,
                          started_at=started_at, options=dict(options or {}), host=str(info["host"]))
        try:
            ok = h.alive() and httpx.get(h.url + "/ping", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            ok = False
        if not ok:
            return None
        h.status = "Ready"
        self._adopted.add(replica_id)
        return h

    def stop_leftovers(self, keep: set[int]) -> list[int]:
        """Stop local replicas of this home (an earlier local configuration) and every replica actor of this
        database's namespace that was not adopted."""
        stopped = super().stop_leftovers(keep)
        ray = self._ray()
        for found in ray.util.list_named_actors(all_namespaces=True):
            name, namespace = found.get("name", ""), found.get("namespace")
            if namespace != self.namespace or not name.startswith(ACTOR_PREFIX):
                continue
            if name[len(ACTOR_PREFIX):] in self._adopted:
                continue
            with contextlib.suppress(Exception):
                actor = ray.get_actor(name, namespace=self.namespace)
                with contextlib.suppress(Exception):
                    ray.get(actor.stop.remote(5.0), timeout=10.0)
                ray.kill(actor, no_restart=True)
                log.info("Stopped replica actor %s left by an earlier server", name)
        return stopped

    def observe(self, record: Any, known: ReplicaHandle | None = None) -> ReplicaHandle | None:
        if record.host is None:
            return super().observe(record, known)
        if known is not None and known.host == record.host and known.port == record.port:
            return known
        h = ReplicaHandle(record.endpoint, record.variant, record.model, record.port, RecordedProcess(record.pid),
                          self.logs_dir / f"{record.endpoint}-{record.variant}-{record.replica_id}.log",
                          replica_id=record.replica_id, started_at=record.started_at,
                          options=dict(record.options or {}), host=record.host)
        h.status = "Ready"
        return h


def _without_password(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def _show(versions: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
