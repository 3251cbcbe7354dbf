"""One settings object for the server, the CLI and the SDK, read once and passed in.

Precedence, highest first: explicit overrides (CLI flags, ``Settings.load(**overrides)``),
environment variables ``SLIPWAY_<NAME>``, the config file ``<home>/config.toml``, defaults.
The home folder itself comes from an override, ``SLIPWAY_HOME`` or ``~/.slipway``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument

__all__ = ["SETTINGS_DOC", "Settings"]

# name -> (type, default description, help); the docs table is generated from this.
SETTINGS_DOC: dict[str, tuple[str, str, str]] = {
    "home": ("path", "~/.slipway", "Folder holding the database, artifacts, logs, credentials and config.toml."),
    "database_url": ("url", "sqlite:///<home>/slipway.db", "Metadata database: sqlite:///… or postgresql+psycopg://…"),
    "artifact_url": ("url", "file://<home>/artifacts", "Artifact store: file://… or s3://BUCKET/PREFIX (with the s3 extra)."),
    "s3_endpoint_url": ("url", "(AWS chain)", "S3-compatible service for s3:// artifact stores (MinIO, Ceph, …); empty: "
                        "AWS_ENDPOINT_URL or Amazon S3."),
    "s3_region": ("str", "(AWS chain)", "Region of the S3 bucket; empty: AWS_REGION / ~/.aws/config."),
    "s3_access_key_id": ("str", "(AWS chain)", "S3 access key id; empty: AWS_ACCESS_KEY_ID, ~/.aws/credentials or the "
                         "instance role."),
    "s3_secret_access_key": ("str", "(AWS chain)", "S3 secret access key; empty: AWS_SECRET_ACCESS_KEY or ~/.aws/credentials. "
                             "Never logged or shown."),
    "host": ("str", "127.0.0.1", "Address the server listens on."),
    "port": ("int", "8080", "Port the server listens on."),
    "url": ("url", "http://<host>:<port>", "Server URL the CLI and SDK talk to."),
    "log_level": ("str", "info", "Server log level: debug, info, warning, error."),
    "controller_interval": ("float", "1.0", "Seconds between two passes of each background controller."),
    "max_upload_bytes": ("int", "0", "Largest dataset upload in bytes; 0 means no limit."),
    "page_size": ("int", "50", "Default page size of list routes (at most 1000)."),
    "master_key": ("str", "<home>/master.key", "Master key wrapping every data key (base64 or hex of 32 bytes); "
                   "when unset a key file is created in the home folder (mode 0600) on first start."),
    "audit_reads": ("bool", "false", "Also record allowed read calls (List/Get) in the audit trail."),
    "auth_max_failures": ("int", "10", "Failed authentications per source address, and per key id, within "
                          "auth_failure_window before further wrong keys get 429 Too Many Requests (a valid key "
                          "is always accepted)."),
    "auth_failure_window": ("float", "60.0", "Seconds over which failed authentications are counted."),
    "compute_url": ("url", "local", "Where training jobs and tuning trials run: 'local' (a process per job on this "
                    "machine), 'ray' (RAY_ADDRESS, else the Ray cluster running on this machine), 'ray://host:port' "
                    "(Ray Client) or 'host:port' (a Ray head's GCS address); extra 'ray'."),
    "serving_runtime_url": ("url", "local", "Where endpoint replicas run: 'local' (a process per replica on this "
                            "machine), 'ray://HOST:PORT' (a Ray actor per replica, through the Ray Client port of "
                            "the head node) or 'ray+gcs://HOST:PORT' (the same from a server on a Ray node, through "
                            "the head's GCS port). Ray needs the ray extra, and this Slipway on every Ray node."),
    "jobs_dir": ("path", "<home>/jobs", "Working folders of running training jobs. Servers on one machine that "
                 "share a database give it the same value, so a server taking over as leader follows the "
                 "local jobs of one that died."),
    "job_concurrency": ("int", "0", "Training jobs running at once; 0 means one per CPU core (of the cluster, on Ray). Others "
                        "wait as Pending."),
    "job_max_runtime": ("int", "86400", "Default max runtime of a training job in seconds (--max-runtime overrides)."),
    "job_memory_limit_mb": ("int", "0", "Default memory limit of a training job in MB; 0 means none."),
    "job_stop_grace": ("float", "10.0", "Seconds a stopped job gets between SIGTERM and SIGKILL."),
    "sandbox": ("str", "auto", "Confinement of user code (jobs, trials, replicas): 'auto' confines with Landlock "
                "where the kernel has it and warns where not; 'landlock' refuses to run user code unconfined; "
                "'off' never confines."),
    "max_payload_bytes": ("int", "6291456", "Largest inference request body in bytes (6 MB); larger ones get 413."),
    "invocation_timeout": ("float", "60.0", "Seconds one inference request may take before it gets 504."),
    "replica_start_timeout": ("float", "60.0", "Seconds a new endpoint replica has to answer /ping before it counts as failed."),
    "drain_timeout": ("float", "30.0", "Seconds an old replica may take to finish in-flight requests during an update."),
    "warm_spare": ("bool", "true", "Keep one replica process with its libraries imported, so that the next endpoint "
                   "replica starts in a fraction of a second (it holds about 100 MB while it waits). Turn it off on a "
                   "small machine or a server that serves no endpoints: replicas then start cold (about 1.5 s more)."),
    "replica_orphan_timeout": ("float", "600.0", "Seconds endpoint replicas keep serving after their server is gone; a server restarted on the home within that time adopts them."),
    "autoscale_window": ("float", "3.0", "Seconds the autoscaler averages an autoscaled endpoint's load (requests in flight and queued) over."),
    "inspect_timeout": ("float", "120.0", "Seconds a model's inspection at registration (loading it, its signature, "
                        "the ONNX export and its verification, in a sandboxed child) may take before it gets 400."),
    "inspect_memory_limit_mb": ("int", "4096", "Memory (address space) limit of a model's inspection at registration "
                                "in MB; 0 means none."),
    "metrics_flush_interval": ("float", "10.0", "Seconds between two writes of the in-memory invocation metrics to the database (per-minute rollups)."),
    "metrics_retention_days": ("int", "15", "Days per-minute endpoint metrics are kept; older rollups are deleted."),
    "capture_max_per_second": ("int", "50", "Requests captured per endpoint and second at most (whatever the sampling percentage)."),
    "capture_max_bytes": ("int", "65536", "Largest captured request or response body in bytes; longer ones are truncated and marked."),
    "capture_queue": ("int", "10000", "Captured requests waiting to be written at most; more are dropped and counted, never waited for."),
    "async_concurrency": ("int", "4", "Asynchronous invocations sent to an endpoint's replicas at once (per endpoint)."),
    "async_callback_attempts": ("int", "5", "Tries to deliver an asynchronous invocation's callback (backoff 1 s, 2 s, 4 s, ...) before it counts as failed."),
}


def _default_home() -> Path:
    return Path("~/.slipway").expanduser()


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=_default_home)
    database_url: str = ""
    artifact_url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = field(default="", repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    url: str = ""
    log_level: str = "info"
    controller_interval: float = 1.0
    max_upload_bytes: int = 0
    page_size: int = 50
    master_key: str = field(default="", repr=False)
    audit_reads: bool = False
    auth_max_failures: int = 10
    auth_failure_window: float = 60.0
    compute_url: str = "local"
    serving_runtime_url: str = "local"
    jobs_dir: Path = field(default=Path())
    job_concurrency: int = 0
    job_max_runtime: int = 86400
    job_memory_limit_mb: int = 0
    job_stop_grace: float = 10.0
    sandbox: str = "auto"
    max_payload_bytes: int = 6 * 1024 * 1024
    invocation_timeout: float = 60.0
    replica_start_timeout: float = 60.0
    drain_timeout: float = 30.0
    warm_spare: bool = True
    replica_orphan_timeout: float = 600.0
    autoscale_window: float = 3.0  # seconds the autoscaler averages an endpoint's load over
    inspect_timeout: float = 120.0
    inspect_memory_limit_mb: int = 4096
    metrics_flush_interval: float = 10.0
    metrics_retention_days: int = 15
    capture_max_per_second: int = 50
    capture_max_bytes: int = 65536
    capture_queue: int = 10000
    async_concurrency: int = 4
    async_callback_attempts: int = 5

    def __post_init__(self) -> None:
        home = Path(self.home).expanduser().resolve()
        object.__setattr__(self, "home", home)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{home / 'slipway.db'}")
        jobs = Path(self.jobs_dir)
        object.__setattr__(self, "jobs_dir", home / "jobs" if str(jobs) in ("", ".") else jobs.expanduser().resolve())
        if not self.artifact_url:
            object.__setattr__(self, "artifact_url", f"file://{home / 'artifacts'}")
        if not self.url:
            host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
            object.__setattr__(self, "url", f"http://{host}:{self.port}")
        if not 0 <= self.port < 65536:
            raise InvalidArgument(
                f"Setting 'port' has value {self.port}. Expected an int in the range [0, 65535] (0 picks a free port).",
                {"field": "port", "value": self.port},
            )
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise InvalidArgument(
                f"Setting 'log_level' has value {self.log_level!r}. Expected one of debug, info, warning, error.",
                {"field": "log_level", "value": self.log_level},
            )
        if self.auth_max_failures < 1 or self.auth_failure_window <= 0:
            raise InvalidArgument(
                f"Settings 'auth_max_failures'={self.auth_max_failures} and 'auth_failure_window'="
                f"{self.auth_failure_window} must be positive.",
                {"field": "auth_max_failures"},
            )
        for name in ("max_payload_bytes", "invocation_timeout", "replica_start_timeout", "drain_timeout",
                     "replica_orphan_timeout", "inspect_timeout", "metrics_flush_interval", "metrics_retention_days",
                     "capture_max_per_second", "capture_max_bytes", "capture_queue", "autoscale_window"):
            if getattr(self, name) <= 0:
                raise InvalidArgument(
                    f"Setting {name!r} has value {getattr(self, name)}. Expected a number greater than 0.",
                    {"field": name, "value": getattr(self, name)},
                )
        for name in ("async_concurrency", "async_callback_attempts"):
            if getattr(self, name) < 1:
                raise InvalidArgument(f"Setting {name!r} has value {getattr(self, name)}. Expected an int of at least 1.",
                                      {"field": name, "value": getattr(self, name)})
        if self.sandbox not in ("auto", "landlock", "off"):
            raise InvalidArgument(
                f"Setting 'sandbox' has value {self.sandbox!r}. Expected one of auto, landlock, off.",
                {"field": "sandbox", "value": self.sandbox},
            )
        if not 1 <= self.page_size <= 1000:
            raise InvalidArgument(
                f"Setting 'page_size' has value {self.page_size}. Expected an int in the range [1, 1000].",
                {"field": "page_size", "value": self.page_size},
            )

        for name in ("job_concurrency", "job_max_runtime", "job_memory_limit_mb", "inspect_memory_limit_mb"):
            if getattr(self, name) < 0:
                raise InvalidArgument(
                    f"Setting {name!r} has value {getattr(self, name)}. Expected an int >= 0.",
                    {"field": name, "value": getattr(self, name)},
                )

    # Paths every part agrees on.
    @property
    def config_file(self) -> Path:
        return self.home / "config.toml"

    @property
    def tmp_dir(self) -> Path:
        return self.home / "tmp"

    @property
    def envs_dir(self) -> Path:
        """Cached Python environments for jobs' requirements.txt, keyed by its hash."""
        return self.home / "envs"

    @property
    def server_file(self) -> Path:
        return self.home / "server.json"

    @property
    def lock_file(self) -> Path:
        return self.home / "server.lock"

    @property
    def credentials_file(self) -> Path:
        return self.home / "credentials"

    @property
    def master_key_file(self) -> Path:
        return self.home / "master.key"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from overrides, then ``SLIPWAY_*`` variables, then ``<home>/config.toml``."""
        env = os.environ if env is None else env
        overrides = {k: v for k, v in overrides.items() if v is not None}
        home = Path(overrides.pop("home", None) or env.get("SLIPWAY_HOME") or _default_home()).expanduser()
        values: dict[str, Any] = {}
        config_file = home / "config.toml"
        if config_file.is_file():
            import tomllib  # here: most homes have no config file, and a CLI command starts faster without it

            try:
                values.update(tomllib.loads(config_file.read_text()))
            except tomllib.TOMLDecodeError as exc:
                raise InvalidArgument(f"Config file {config_file} is not valid TOML: {exc}") from exc
        for f in fields(cls):
            if f.name == "home":
                continue
            raw = env.get(f"SLIPWAY_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = raw
        values.update(overrides)
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise InvalidArgument(
                f"Unknown setting {unknown[0]!r} in {config_file}. Known settings: "
                + ", ".join(f.name for f in fields(cls) if f.name != "home"),
                {"field": unknown[0]},
            )
        typed = {name: _coerce(name, value) for name, value in values.items()}
        return cls(home=home, **typed)


def _coerce(name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError

        return str(value)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"Setting {name!r} has value {value!r}. Not a valid {kind}.",
            {"field": name, "value": str(value), "expected": kind},
        ) from None
