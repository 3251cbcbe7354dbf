"""``ray``: each job runs on a Ray cluster, in a detached actor of its own that holds its folder there.

``compute_url``: ``ray`` (``RAY_ADDRESS``, else the cluster ``ray start`` runs on this machine),
``ray://host:port`` (Ray Client) or ``host:port`` (the head's GCS address). Ray is imported here
only, when this executor is opened.

Why an actor per job (not a bare task, not a Ray Job): the server must talk to a running job —
read its new log lines, signal it, fetch its model — and an actor is the live object Ray gives
for that; Ray Jobs need the dashboard's job server and ship code through it, and a task cannot
be asked anything until it returns. The actor asks the job's CPUs, GPUs and memory of the
scheduler, so the cluster spreads jobs (and so tuning trials) over its nodes. It is detached and
named (the handle is ``ray:<name>``), so a restarted server finds it again.

Staging: the server prepares the folder as for a local job (inputs and code from the artifact
store) and ships it packed through Ray's object store; the actor unpacks it in a temporary folder
of its node and starts ``slipway.compute.guard`` there, which runs the runner and kills the job if
the worker dies. ``sync`` appends the job's new log and metrics bytes to the server's copy (the
jobs controller does it every pass, so logs stream live); ``collect`` brings ``result.json``,
``model/``, ``output/`` and processing outputs back; ``release`` removes the folder and the actor.
Secrets travel as an argument of the start call, in memory, and reach the job's environment only.

Sandbox: the job runs in the same Landlock box as a local job (setting ``sandbox``, checked on the
node: ``landlock`` refuses to start it where the node's kernel cannot confine, ``auto`` warns in its
first log line). The guard starts the runner through the launcher, so the runner and the
script may read the Python environment and the job's own folder (its inputs), write only that
folder (and an environment the runner builds), and cannot read the node's other job folders, Ray's
session folder, the worker's home or, on a node that is also the server's machine, the server's home.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from slipway.compute.base import Executor, ProcessState, Resources
from slipway.errors import InvalidArgument, Unavailable
from slipway.sandbox import Sandbox, SandboxUnavailable

__all__ = ["JobHost", "RayExecutor", "check_versions"]

NAMESPACE = "slipway"
CALL_TIMEOUT = 30.0  # seconds for one call to a job's actor (reads, signals)
COLLECT_TIMEOUT = 600.0  # seconds to bring a job's results (the model) back
CONNECT_TIMEOUT = 5.0  # seconds to reach the head before Ray is even asked
READ_CHUNK = 4 * 1024 * 1024  # most log or metrics bytes one sync brings
RESULTS = ("slipway/result.json", "model", "output", "processing/output")


def _pack(root: Path, members: Sequence[str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if members is None:
            tar.add(root, arcname=".")
        else:
            for member in members:
                if (root / member).exists():
                    tar.add(root / member, arcname=member)
    return buf.getvalue()


def _unpack(data: bytes, root: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(root, filter="data")


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(READ_CHUNK)
    except OSError:
        return b""


def versions() -> dict[str, str]:
    """Python, Ray and Slipway versions of this process (run on a worker too, as a Ray task)."""
    import ray

    import slipway

    return {"python": "{}.{}".format(*sys.version_info[:2]), "ray": ray.__version__, "slipway": slipway.__version__}


def check_versions(url: str, here: Mapping[str, str], there: Mapping[str, str]) -> None:
    """Raise when the cluster's Python (major.minor), Ray or Slipway differs from the server's."""
    differ = [f"{what} {here.get(what)} here, {there.get(what)} on the cluster"
              for what in ("python", "ray", "slipway") if here.get(what) != there.get(what)]
    if differ:
        raise InvalidArgument(
            f"The Ray cluster at {url} does not match this server: {'; '.join(differ)}. Run the cluster's nodes "
            "with the same Python (major.minor), Ray and Slipway versions as the server (pip install "
            "'slipway[ray]==<the server's version>' in one environment on every node).",
            {"field": "compute_url", "value": url},
        )


def _node_sandbox(base: Path, setting: Mapping[str, str] | None) -> Sandbox:
    """The box of a job on this node: the node's job folders closed as the platform's home is, and with them
    the server's home (when the server runs on this machine), Ray's session folder and the worker's ~."""
    if setting is None:
        return Sandbox(home=base, mode="off")
    hidden = [Path(setting["home"])] if setting.get("home") else []
    try:  # a Ray worker has imported ray; its node knows the session's temp folder
        hidden.append(Path(sys.modules["ray"]._private.worker.global_worker.node.get_temp_dir_path()))
    except Exception:  # a private API of Ray's: without it, the box still reads no folder of /tmp
        pass
    return Sandbox(home=base, mode=setting.get("mode", "auto"), hidden=tuple(hidden))


class JobHost:
    """Lives in a Ray worker for one job: the job's folder on that node, its process group, its signals."""

    def __init__(self) -> None:
        self.root: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, name: str, folder: bytes, env: Mapping[str, str], cpus: float,
              sandbox: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Stage the job's folder on this node and start it, confined as the server's ``sandbox`` setting says.

        ``sandbox``: the server's setting (``mode``) and home (``home``); None runs the job unconfined.
        """
        import ray

        from slipway.sandbox import user_environment
        from slipway.training.contract import JobPaths

        base = Path(os.environ.get("SLIPWAY_RAY_JOBS_DIR") or Path(tempfile.gettempdir()) / "slipway-ray")
        context = ray.get_runtime_context()
        node = context.get_node_id()
        box = _node_sandbox(base, sandbox)
        # Setting 'landlock' on a node without it raises SandboxUnavailable here, before anything is staged.
        active = box.active
        (base / "jobs").mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base / "jobs"))
        _unpack(folder, self.root)
        assigned = {k: round(v, 3) for k, v in sorted(context.get_assigned_resources().items())}
        read, write = self._prepare(base, box, active, node, cpus)
        runner = [sys.executable, "-m", "slipway.training.runner", str(self.root)]
        # The guard stays outside the box (it removes the folder when the worker dies); the runner and
        # the script, everything that runs user code, start inside it.
        command = [sys.executable, "-m", "slipway.compute.guard", str(self.root), str(os.getpid()), "--",
                   *(box.wrap(runner, read, write) if active else runner)]
        with open(JobPaths(self.root).logs, "ab") as out:
            out.write(f"[slipway] Ray: node {node}, worker pid {os.getpid()}, folder {self.root}, "
                      f"resources {json.dumps(assigned)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
                env={**user_environment(os.environ), "PYTHONUNBUFFERED": "1", **env},
                start_new_session=True, close_fds=True,
            )
        return {"node": node, "pid": self.proc.pid, "folder": str(self.root)}

    def _prepare(self, base: Path, box: Sandbox, active: bool, node: str, cpus: float) -> tuple[list[Path], list[Path]]:
        """Rewrite job.json for this node; what the job may read and write besides its folder (as ``JobRuns`` does)."""
        from slipway.training.contract import JobPaths
        from slipway.training.environments import environment_dir, is_ready

        assert self.root is not None
        paths = JobPaths(self.root)
        job = json.loads(paths.job_file.read_text())
        # Paths of the server's machine mean nothing here: this node keeps its own environment cache.
        envs = base / "envs"
        job["env_cache_dir"] = str(envs)
        job.pop("script_sandbox", None)
        job["num_cpus"] = max(1, int(cpus))
        isolation = box.isolation
        where = f"on Ray node {node[:12]}"
        job["sandbox"] = (f"Sandbox: {isolation.mechanism} {where}; this job reads its own folder and the Python "
                          "environment, and writes only its own folder." if isolation.isolated else
                          f"Sandbox: none {where} ({isolation.message}).")
        read: list[Path] = []
        write: list[Path] = [self.root]
        req = paths.code / "requirements.txt"
        if req.is_file():
            env_dir = environment_dir(envs, req.read_bytes())
            if is_ready(env_dir):
                read.append(env_dir)
            else:
                env_dir.mkdir(parents=True, exist_ok=True)
                write.append(env_dir)
                if active:  # built by the runner, the environment is only read by the script
                    job["script_sandbox"] = box.wrap([], read=[env_dir], write=[self.root])
        paths.job_file.write_text(json.dumps(job, indent=2))
        return read, write

    def read(self, log_offset: int, metrics_offset: int) -> tuple[bytes, bytes, int | None]:
        """New log and metrics bytes from those offsets, and the exit code (None: still running)."""
        from slipway.training.contract import JobPaths

        code = self.proc.poll() if self.proc is not None else None
        if self.root is None:
            return b"", b"", code
        paths = JobPaths(self.root)
        return _read_from(paths.logs, log_offset), _read_from(paths.metrics, metrics_offset), code

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def results(self) -> bytes:
        return _pack(self.root, RESULTS) if self.root is not None else b""

    def cleanup(self) -> None:
        self.signal(signal.SIGKILL)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)


def _probe(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
        pass


class RayExecutor(Executor):
    """Capacity: ``job_concurrency`` when set, else the cluster's CPUs (one per job)."""

    def __init__(self, on_exit: Callable[[], None] | None = None, concurrency: int = 0,
                 sandbox: Sandbox | None = None, url: str = "ray") -> None:
        super().__init__(on_exit)
        self.url = url
        try:
            import ray
        except ImportError as exc:
            raise InvalidArgument(f"Install slipway[ray] to use Ray compute ({exc}).",
                                  {"field": "compute_url", "value": url}) from exc
        self._ray = ray
        self.sandbox = sandbox
        self._connect()
        self._host = ray.remote(JobHost)
        self._actors: dict[str, Any] = {}
        self._starts: dict[str, Any] = {}  # actor name -> the start call's result, until it is known
        self._cancelled: dict[str, int] = {}  # actor name -> the signal that stopped it before it started
        self._lock = threading.Lock()
        cpus = float(ray.cluster_resources().get("CPU", 1))
        self.concurrency = concurrency or max(1, int(cpus))

    # -- connecting ------------------------------------------------------------------------------

    def _address(self) -> str:
        if self.url == "ray":
            return os.environ.get("RAY_ADDRESS") or "auto"
        return self.url

    def _unreachable(self, address: str, cause: object) -> Unavailable:
        port_hint = ("the Ray Client port (10001 unless `ray start --ray-client-server-port` says otherwise)"
                     if address.startswith("ray://") else "the head's GCS port (6379 unless `ray start --port` "
                     "says otherwise)")
        where = ("with no RAY_ADDRESS set, Slipway looks for the Ray cluster of this machine: check that "
                 "`ray start --head` runs here, or set RAY_ADDRESS or 'compute_url' to the head's address"
                 if address == "auto" else
                 f"check that `ray start --head` runs there and that {port_hint} is open from this machine")
        text = str(cause).strip()
        detail = text.splitlines()[0].rstrip(".") if text else type(cause).__name__
        shown = "this machine's Ray cluster (address 'auto')" if address == "auto" else f"the Ray cluster at {address}"
        return Unavailable(
            f"Cannot reach {shown} (setting 'compute_url' is {self.url!r}): {detail}. {where[:1].upper()}{where[1:]}.",
            {"field": "compute_url", "value": self.url},
        )

    def _connect(self) -> None:
        ray = self._ray
        address = self._address()
        if address != "auto":
            hostport = address.removeprefix("ray://")
            host, _, port = hostport.rpartition(":")
            try:
                _probe(host, int(port))
            except (OSError, ValueError) as exc:
                raise self._unreachable(address, exc) from None
        if not ray.is_initialized():
            try:
                ray.init(address=address, namespace=NAMESPACE, logging_level="WARNING", log_to_driver=False,
                         configure_logging=False)
            except Exception as exc:  # ConnectionError, version mismatch of Ray Client, timeouts
                raise self._unreachable(address, exc) from None
        here = versions()
        try:
            there = ray.get(ray.remote(versions).options(num_cpus=0).remote(), timeout=120)
        except Exception as exc:
            raise self._unreachable(address, f"a probe task failed: {exc}") from None
        check_versions(address, here, there)

    # -- the contract ----------------------------------------------------------------------------

    def capacity(self) -> int:
        return self.concurrency

    def describe(self) -> str:
        return f"ray ({self._address()})"

    def fits(self, resources: Resources) -> None:
        """An actor runs on one node: refuse a request larger than the largest live node (it would wait forever)."""
        asked = (("cpus", "CPU", resources.cpus, 1.0, "CPU"), ("gpus", "GPU", resources.gpus, 1.0, "GPU"),
                 ("memory_limit_mb", "memory", resources.memory_mb or 0, 1024 * 1024, "MB of memory"))
        nodes = [n.get("Resources") or {} for n in self._ray.nodes() if n.get("Alive")]
        for fld, key, value, unit, label in asked:
            if not value:
                continue
            most = max((float(n.get(key, 0)) / unit for n in nodes), default=0.0)
            if value > most:
                raise InvalidArgument(
                    f"The job asks for {value:g} {label}, and the largest node of the Ray cluster at "
                    f"{self._address()} has {most:g} {label}: no node could ever run it. Ask for at most "
                    f"{most:g}, or add a larger node to the cluster.",
                    {"field": fld, "value": value, "expected": f"at most {most:g}"})

    def _actor(self, handle: str) -> Any:
        name = handle.split(":", 1)[1]
        with self._lock:
            actor = self._actors.get(name)
        if actor is None:
            actor = self._ray.get_actor(name, namespace=NAMESPACE)  # ValueError: no such actor (any more)
            with self._lock:
                self._actors[name] = actor
        return actor

    def submit(self, job_dir: Path, log: Path, warm: bool = False, env: Mapping[str, str] | None = None,
               read: Sequence[Path] = (), write: Sequence[Path] = (), resources: Resources | None = None,
               name: str = "") -> str:
        res = resources or Resources()
        actor_name = f"slipway-job-{name or job_dir.name}-{uuid.uuid4().hex[:8]}"
        options: dict[str, Any] = {"name": actor_name, "namespace": NAMESPACE, "lifetime": "detached",
                                   "num_cpus": res.cpus, "num_gpus": res.gpus, "max_restarts": 0}
        if res.memory_mb:
            options["memory"] = res.memory_mb * 1024 * 1024
        actor = self._host.options(**options).remote()
        with self._lock:
            self._actors[actor_name] = actor
        # Not waited for: the actor may wait for a node with room (the job stays InProgress meanwhile);
        # poll reports a start that failed.
        box = None if self.sandbox is None else {"mode": self.sandbox.mode, "home": str(self.sandbox.home)}
        started = actor.start.remote(name or job_dir.name, _pack(job_dir), dict(env or {}), res.cpus, box)
        with self._lock:
            self._starts[actor_name] = started
        return f"ray:{actor_name}"

    def _died(self, exc: BaseException) -> str:
        text = str(exc).strip().splitlines()
        detail = next((line.strip() for line in text if "died" in line.lower() or "node" in line.lower()),
                      text[0] if text else type(exc).__name__)
        return f"The Ray worker running the job died (its node lost or its process killed): {detail[:300]}"

    def poll(self, handle: str) -> ProcessState:
        ray = self._ray
        try:
            actor = self._actor(handle)
        except ValueError:
            return ProcessState(False, None, f"The job's Ray actor ({handle}) is gone: the cluster restarted or "
                                             "the node it ran on died.")
        name = handle.split(":", 1)[1]
        with self._lock:
            started = self._starts.get(name)
            cancelled = self._cancelled.get(name)
        if cancelled is not None:
            return ProcessState(False, -cancelled)
        if started is not None:
            if not self._ready(started):
                return ProcessState(True)  # waiting for a node with room, or staging the folder
            try:
                ray.get(started)
            except ray.exceptions.RayActorError as exc:
                return ProcessState(False, None, self._died(exc))
            except ray.exceptions.RayError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, SandboxUnavailable):  # the local executor's refusal, word for word
                    return ProcessState(False, None, f"Starting the job on Ray failed: {cause}")
                return ProcessState(False, None, f"Starting the job on Ray failed: {str(exc).strip()[-500:]}")
            with self._lock:
                self._starts.pop(name, None)
        try:
            _, _, code = ray.get(actor.read.remote(1 << 62, 1 << 62), timeout=CALL_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            return ProcessState(True)
        except ray.exceptions.RayActorError as exc:
            return ProcessState(False, None, self._died(exc))
        return ProcessState(code is None, code)

    def _ready(self, started: Any) -> bool:
        ready, _ = self._ray.wait([started], timeout=0)
        return bool(ready)

    def _pending(self, handle: str) -> bool:
        """True while the job's start call has not run (no node with room yet): its actor answers nothing."""
        with self._lock:
            started = self._starts.get(handle.split(":", 1)[1])
        return started is not None and not self._ready(started)

    def sync(self, handle: str, job_dir: Path, log: Path) -> None:
        from slipway.training.contract import JobPaths

        ray = self._ray
        metrics = JobPaths(job_dir).metrics
        if self._pending(handle):
            return
        try:
            actor = self._actor(handle)
            while True:
                log_at = log.stat().st_size if log.exists() else 0
                metrics_at = metrics.stat().st_size if metrics.exists() else 0
                new_log, new_metrics, _ = ray.get(actor.read.remote(log_at, metrics_at), timeout=CALL_TIMEOUT)
                for path, data in ((log, new_log), (metrics, new_metrics)):
                    if data:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        with open(path, "ab") as f:
                            f.write(data)
                if len(new_log) < READ_CHUNK and len(new_metrics) < READ_CHUNK:
                    return
        except (ValueError, ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return  # poll says why; what was copied stays

    def collect(self, handle: str, job_dir: Path, log: Path) -> None:
        ray = self._ray
        self.sync(handle, job_dir, log)
        with self._lock:
            if handle.split(":", 1)[1] in self._cancelled:
                return
        try:
            data = ray.get(self._actor(handle).results.remote(), timeout=COLLECT_TIMEOUT)
        except (ValueError, ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return
        if data:
            _unpack(data, job_dir)

    def _signal(self, handle: str, sig: int) -> None:
        ray = self._ray
        if self._pending(handle):  # stopped before it started: nothing runs yet, the actor goes
            name = handle.split(":", 1)[1]
            with self._lock:
                self._cancelled[name] = int(sig)
            try:
                ray.kill(self._actor(handle))
            except ValueError:
                pass
            return
        try:
            ray.get(self._actor(handle).signal.remote(int(sig)), timeout=CALL_TIMEOUT)
        except (ValueError, ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass

    def terminate(self, handle: str) -> None:
        self._signal(handle, signal.SIGTERM)

    def kill(self, handle: str) -> None:
        self._signal(handle, signal.SIGKILL)

    def release(self, handle: str) -> None:
        ray = self._ray
        try:
            actor = self._actor(handle)
        except ValueError:
            return
        try:
            ray.get(actor.cleanup.remote(), timeout=CALL_TIMEOUT)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            pass
        ray.kill(actor)
        with self._lock:
            self._actors.pop(handle.split(":", 1)[1], None)
            self._starts.pop(handle.split(":", 1)[1], None)
            self._cancelled.pop(handle.split(":", 1)[1], None)
