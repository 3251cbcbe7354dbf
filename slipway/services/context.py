"""The platform's wiring: one object that owns the database, the store and every service."""

from __future__ import annotations

import os
import threading
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slipway import __version__
from slipway.db import Database
from slipway.home import secure_home
from slipway.settings import Settings
from slipway.storage import ArtifactStore, open_store

__all__ = ["Platform", "DASHBOARD_COOKIE", "is_dashboard_path", "is_dashboard_read"]

DASHBOARD_COOKIE = "slipway_key"


def is_dashboard_path(path: str) -> bool:
    return path == "/" or path.startswith("/ui/")


def is_dashboard_read(method: str, path: str) -> bool:
    return method in ("GET", "HEAD") and is_dashboard_path(path)

if TYPE_CHECKING:
    from slipway.compute import Executor
    from slipway.monitoring import InvocationMetrics
    from slipway.monitoring.capture import CaptureBuffer
    from slipway.sandbox import Sandbox
    from slipway.schemas.auth import RotateResult
    from slipway.services.alarms import AlarmService
    from slipway.services.async_invocations import AsyncInvocationService
    from slipway.services.audit import AuditService
    from slipway.services.auth import AuthService, Principal
    from slipway.services.baselines import BaselineService
    from slipway.services.buckets import BucketService
    from slipway.services.capture import CaptureService
    from slipway.services.datasets import DatasetService
    from slipway.services.endpoints import EndpointService
    from slipway.services.job_runs import JobRuns
    from slipway.services.metrics import MetricsService
    from slipway.services.monitors import MonitorService
    from slipway.services.pipelines import PipelineService
    from slipway.services.promotion import Promotion
    from slipway.services.registry import RegistryService
    from slipway.services.sagemaker_resources import SageMakerResourceService
    from slipway.services.secrets import SecretService
    from slipway.services.training import TrainingService
    from slipway.services.transforms import TransformService
    from slipway.services.tuning import TuningService
    from slipway.serving.runtime import ServingRuntime
    from slipway.storage.keyring import KeyRing


class Platform:
    """Built once by the server (or a test) from settings; services are created on first use."""

    def __init__(self, settings: Settings, db: Database | None = None, store: ArtifactStore | None = None) -> None:
        self.settings = settings
        secure_home(settings.home, settings.database_url)  # 0700, and 0600 files: fixes an older home too
        settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.db = db or Database(settings.database_url)
        if store is None:
            from slipway.storage.encrypted import EncryptedStore

            store = EncryptedStore(open_store(settings.artifact_url, settings), self.keyring)
        self.store = store
        self.started_at = time.time()
        self._rotation_lock = threading.Lock()

    def migrate(self) -> None:
        self.db.migrate()

    @cached_property
    def datasets(self) -> DatasetService:
        from slipway.services.datasets import DatasetService

        return DatasetService(self.db, self.store, self.settings.tmp_dir, self.settings.max_upload_bytes)

    @cached_property
    def keyring(self) -> KeyRing:
        from slipway.storage.keyring import KeyRing

        return KeyRing.load(self.settings.master_key, self.settings.master_key_file)

    @cached_property
    def auth(self) -> AuthService:
        from slipway.services.auth import AuthService

        return AuthService(self.db, self.settings.auth_max_failures, self.settings.auth_failure_window, lambda: self.keyring)

    @cached_property
    def audit(self) -> AuditService:
        from slipway.services.audit import AuditService

        return AuditService(self.db, self.settings.audit_reads)

    @cached_property
    def secrets(self) -> SecretService:
        from slipway.services.secrets import SecretService

        return SecretService(self.db, self.keyring)

    def authorize_request(self, request: Any, action: str, resource: str) -> Principal:
        """Authenticate the request's bearer key (once per request) and check ``action`` on ``resource``.

        Called by every route's ``permission`` dependency; sets ``request.state.user`` (the
        name recorded as created_by) and ``key_id``; raises Unauthorized, TooManyRequests or Forbidden.
        """
        from slipway.services.auth import parse_token

        state = request.state
        principal = getattr(state, "principal", None)
        if principal is None:
            header = request.headers.get("authorization")
            if not header and (is_dashboard_read(request.method, request.url.path)
                               or getattr(state, "dashboard_form", False)):
                # The browser dashboard signs in with a cookie (SameSite=Strict, HttpOnly). A change
                # accepts it only from a dashboard form whose CSRF token and origin the web layer
                # checked first (slipway/web/forms.py sets ``dashboard_form``); the API never does.
                cookie = request.cookies.get(DASHBOARD_COOKIE)
                header = f"Bearer {cookie}" if cookie else None
            token = (header or "").partition(" ")[2].strip()
            parsed = parse_token(token)
            state.key_id = parsed[0] if parsed else ""  # the claimed id, for the audit trail
            source = request.client.host if request.client else ""
            principal = self.auth.authenticate(header, source)
            state.principal = principal
            state.user = principal.user
            state.key_id = principal.key_id
        self.auth.authorize(principal, action, resource)
        return principal

    def bootstrap(self) -> str | None:
        """First start of a new platform: create ``admin`` and store its key in the credentials file."""
        from slipway.credentials import LOCAL, save_profile

        created = self.auth.bootstrap()
        if created is None:
            return None
        save_profile(self.settings.credentials_file, LOCAL, created.key, user="admin")
        return created.key_id

    def rotate_master_key(self) -> RotateResult:
        """Re-wrap every data key (artifacts and secrets) under a new master key; data is not rewritten."""
        from slipway.schemas.auth import RotateResult
        from slipway.storage.encrypted import EncryptedStore

        with self._rotation_lock:
            fp = self.keyring.begin_rotation()
            objects = self.store.rewrap_all() if isinstance(self.store, EncryptedStore) else 0
            secrets = self.secrets.rewrap_all() + self.auth.rewrap_aws_keys()
            self.keyring.commit_rotation()
        return RotateResult(master_key=fp, rewrapped_objects=objects, rewrapped_secrets=secrets)

    @cached_property
    def training(self) -> TrainingService:
        from slipway.services.training import TrainingService

        return TrainingService(self.db, self.store, self.datasets, self.settings, self.secrets,
                               fits=lambda res: self.executor.fits(res))

    @cached_property
    def pipelines(self) -> PipelineService:
        from slipway.services.pipelines import PipelineService

        return PipelineService(self.db, self)

    @cached_property
    def sandbox(self) -> Sandbox:
        """The box every process running user code starts in (jobs, trials, replicas)."""
        from slipway.sandbox import Sandbox

        return Sandbox(home=self.settings.home, mode=self.settings.sandbox)

    @cached_property
    def executor(self) -> Executor:
        from slipway.compute import open_executor

        return open_executor(self.settings.compute_url, on_exit=self.training.wakeup.set,
                             concurrency=self.settings.job_concurrency, sandbox=self.sandbox)

    @cached_property
    def tuning(self) -> TuningService:
        from slipway.algorithms import get_algorithm
        from slipway.services.tuning import TuningService

        return TuningService(self.db, self.training, get_algorithm)

    @cached_property
    def promotion(self) -> Promotion:
        from slipway.services.promotion import Promotion

        return Promotion(self.training, self.tuning, self.registry, self.store, self.settings.tmp_dir)

    @cached_property
    def job_runs(self) -> JobRuns:
        from slipway.services.job_runs import JobRuns

        return JobRuns(self.training, self.executor, self.sandbox, self.secrets)

    @cached_property
    def registry(self) -> RegistryService:
        from slipway.inspection import Inspector
        from slipway.services.registry import RegistryService

        inspector = Inspector(self.sandbox, self.settings.tmp_dir, timeout=self.settings.inspect_timeout,
                              memory_limit_mb=self.settings.inspect_memory_limit_mb)
        return RegistryService(self.db, self.store, self.settings.tmp_dir, inspector,
                               on_delete=self._model_deleted)

    def _model_deleted(self, ref: str) -> None:
        self.serving.remove_model_copies(ref)  # serving copies and the baseline go with the version
        self.baselines.delete_for(ref)

    @cached_property
    def endpoints(self) -> EndpointService:
        from slipway.services.endpoints import EndpointService

        return EndpointService(self.db, self.registry, self.settings)

    @cached_property
    def async_invocations(self) -> AsyncInvocationService:
        from slipway.services.async_invocations import AsyncInvocationService

        return AsyncInvocationService(self.db, self.store, self.settings)

    @cached_property
    def transforms(self) -> TransformService:
        from slipway.services.transforms import TransformService

        return TransformService(self.db, self.datasets, self.registry, self.settings, lambda: self.serving,
                                lambda: self.buckets, lambda: self.endpoints)

    @cached_property
    def sagemaker_resources(self) -> SageMakerResourceService:
        from slipway.services.sagemaker_resources import SageMakerResourceService

        return SageMakerResourceService(self.db)

    @cached_property
    def buckets(self) -> BucketService:
        from slipway.services.buckets import BucketService

        return BucketService(self.db, self.store)

    @cached_property
    def serving(self) -> ServingRuntime:
        """Replica processes and the invocation gateway of this server process."""
        from slipway.serving.runtime import open_serving_runtime

        return open_serving_runtime(self.settings, self.store, self.sandbox, self.invocation_metrics,
                                    self.capture_buffer)

    @cached_property
    def invocation_metrics(self) -> InvocationMetrics:
        """Counts and latencies of every invocation this process answered, in memory until flushed."""
        from slipway.monitoring import InvocationMetrics

        return InvocationMetrics()

    @cached_property
    def metrics(self) -> MetricsService:
        from slipway.services.metrics import MetricsService

        return MetricsService(self.db, self.invocation_metrics, self.settings.metrics_retention_days)

    @cached_property
    def capture_buffer(self) -> CaptureBuffer:
        """Sampled invocations waiting for the capture controller to write them."""
        from slipway.monitoring.capture import CaptureBuffer

        return CaptureBuffer(self.settings.capture_queue, self.settings.capture_max_per_second)

    @cached_property
    def capture(self) -> CaptureService:
        from slipway.services.capture import CaptureService

        return CaptureService(self.db, self.store, self.capture_buffer, self.settings.capture_max_bytes)

    @cached_property
    def baselines(self) -> BaselineService:
        from slipway.services.baselines import BaselineService

        return BaselineService(self.db, self.store, self.settings.tmp_dir, self.registry, self.datasets)

    @cached_property
    def monitors(self) -> MonitorService:
        from slipway.services.monitors import MonitorService

        return MonitorService(self.db, self.baselines, self.capture)

    @cached_property
    def alarms(self) -> AlarmService:
        from slipway.services.alarms import AlarmService

        return AlarmService(self.db, self.monitors, self.endpoints, self.metrics)

    @property
    def tmp_dir(self) -> Path:
        return self.settings.tmp_dir

    def counts(self) -> dict[str, int]:
        return {"datasets": self.datasets.count(), "dataset_versions": self.datasets.count_versions(),
                "jobs": self.training.count(), "tuning_jobs": self.tuning.count(), "models": self.registry.count(),
                "endpoints": self.endpoints.count()}

    def describe(self) -> dict[str, object]:
        return {
            "version": __version__,
            "database": self.db.safe_url,
            "database_backend": self.db.backend,
            "artifact_store": self.store.describe(),
            "compute": _without_password(self.settings.compute_url),
            "serving_runtime": self.serving.describe(),
            "home": str(self.settings.home),
            "pid": os.getpid(),
            "sandbox": self.sandbox.isolation.as_dict(),
        }

    def close(self) -> None:
        if "audit" in self.__dict__:
            self.audit.flush()
        if "metrics" in self.__dict__:
            self.metrics.flush()
        if "capture" in self.__dict__:
            self.capture.flush()
        if "executor" in self.__dict__:
            self.executor.close()
        if "registry" in self.__dict__:
            self.registry.inspector.close()
        if "serving" in self.__dict__:  # its warm spare replica (a transform's replica starts one)
            self.serving.close()
        self.db.dispose()



def _without_password(url: str) -> str:
    """``url`` with the password of its user part masked (``scheme://user:***@host``), for ``slipway status``."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url
