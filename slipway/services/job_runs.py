"""What the jobs controller does to a job: prepare its folder, start it, follow it, finish it, recover it.

The folder is materialised from the artifact store (datasets, source) by the server, never read
around it; logs, metrics and the model go back into the store when the process ends. Inputs are
copies, never links into the store: the job's sandbox lets it read its own folder and nothing else
of the home, save the one cached Python environment its requirements.txt names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.artifacts.manifest import MANIFEST, Manifest
from slipway.compute import Executor
from slipway.data import unpack_folder
from slipway.db import utcnow
from slipway.db.models import Job, JobMetric, Reference
from slipway.errors import InvalidArgument
from slipway.sandbox import Sandbox
from slipway.services.events import emit
from slipway.services.secrets import SecretService, job_env_names
from slipway.services.training import TrainingService, job_resources, logs_key, source_key, transition
from slipway.training.contract import JobPaths
from slipway.training.environments import environment_dir, is_ready
from slipway.training.runner import describe_exit, last_lines

__all__ = ["JobRuns"]

log = logging.getLogger("slipway.jobs")
LOG_UPLOAD_EVERY = 2.0  # seconds between copies of a running job's log into the store
FAST_GZIP = 1  # models are mostly float arrays: level 9 takes ~10x longer for a few percent smaller


class JobRuns:
    def __init__(self, training: TrainingService, executor: Executor, sandbox: Sandbox,
                 secrets: SecretService | None = None) -> None:
        self.training = training
        self.sandbox = sandbox
        self.secrets = secrets
        self.db = training.db
        self.store = training.store
        self.datasets = training.datasets
        self.settings = training.settings
        self.executor = executor
        self._log_uploaded: dict[str, tuple[float, int]] = {}  # name -> (when, size)
        self._terminated: set[str] = set()  # jobs already sent SIGTERM

    def paths(self, name: str) -> JobPaths:
        return JobPaths(self.training.job_dir(name))

    def _update(self, name: str, fn: Any) -> Any:
        def _do(s: Session) -> Any:
            job = s.execute(select(Job).where(Job.name == name).with_for_update()).scalar_one()
            return fn(job, s)

        return self.db.run(_do)

    # -- listing ---------------------------------------------------------------------------------

    def active(self) -> list[tuple[str, str, str | None]]:
        """(name, status, handle) of every job the controller must follow."""
        with self.db.session() as s:
            rows = s.execute(select(Job.name, Job.status, Job.handle)
                             .where(Job.status.in_(("InProgress", "Stopping")))).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def claim(self, slots: int) -> list[str]:
        """Move up to ``slots`` Pending jobs, oldest first, to InProgress/Starting."""
        if slots <= 0:
            return []

        def _do(s: Session) -> list[str]:
            jobs = s.execute(select(Job).where(Job.status == "Pending").order_by(Job.id).limit(slots)
                             .with_for_update(skip_locked=True)).scalars().all()
            for job in jobs:
                transition(job, "InProgress", "Starting", "Preparing the job folder.")
                job.started_at = utcnow()
            return [j.name for j in jobs]

        return self.db.run(_do)  # type: ignore[no-any-return]

    # -- starting --------------------------------------------------------------------------------

    def launch(self, name: str) -> None:
        """Materialise inputs and source, write job.json, start the process. Any failure fails the job."""
        paths = self.paths(name)
        try:
            with self.db.session() as s:
                job = s.execute(select(Job).where(Job.name == name)).scalar_one()
                spec = self._spec(job)
                sha = job.source_sha256
                inputs = dict(job.inputs)
                secret_names = list(job.secrets or [])
                processing = job.kind == "processing"
            # Values go to the process's environment only (never job.json, never the database in clear);
            # the runner gets the variables' names to redact the values from the log.
            env = self._secret_env(secret_names)
            spec["secrets"] = sorted(env)
            shutil.rmtree(paths.root, ignore_errors=True)
            paths.make()
            self._update(name, lambda j, s: transition(j, secondary="Downloading",
                                                       message="Copying input data into the job folder."))
            for channel, info in inputs.items():
                key = self.datasets.storage_key(info["ref"])
                target = paths.processing_input(channel) if processing else paths.channel(channel)
                if info["kind"] == "folder":
                    with self.store.open(key) as f:
                        unpack_folder(f, target)
                else:
                    self.store.get_file(key, target / info["filename"])
            for channel in spec["outputs"]:
                paths.processing_output(channel).mkdir(parents=True, exist_ok=True)
            if sha:
                paths.code.rmdir()
                with self.store.open(source_key(sha)) as f:
                    unpack_folder(f, paths.code)
            spec["signature"] = self._signature_hint(inputs, spec.get("label"))
            read, write = self._environment_access(paths, spec)
            paths.job_file.write_text(json.dumps(spec, indent=2))

            # The process starts outside any transaction: a transaction retried (SQLite busy) would start it twice.
            with self.db.session() as s:
                job = s.execute(select(Job).where(Job.name == name)).scalar_one()
                if job.status == "Stopping":  # stopped while downloading: never start it
                    return
                warm, resources = job.kind == "algorithm", job_resources(job)
            handle = self.executor.submit(paths.root, paths.logs, warm=warm, env=env, read=read, write=write,
                                          name=name, resources=resources)

            def _start(job: Job, s: Session) -> None:
                job.handle = handle  # stopped meanwhile: the controller sees Stopping with a handle and stops it
                if job.status != "Stopping":
                    transition(job, secondary="Training", message="Running the training code.")

            try:
                self._update(name, _start)
            except Exception:
                self.executor.kill(handle)  # never a process the database does not know
                raise
        except Exception as exc:
            log.exception("Starting job %s failed", name)
            self._end(name, "Failed", "Failed", f"Preparing the job failed: {exc}")
            shutil.rmtree(paths.root, ignore_errors=True)

    def _secret_env(self, names: list[str]) -> dict[str, str]:
        """Environment variable -> value of a job's secrets, read now (a secret deleted since fails the job)."""
        if not names:
            return {}
        if self.secrets is None:
            raise RuntimeError("the job asks for secrets, but this platform has no secret store")
        values = self.secrets.resolve(names)
        return {env: values[name] for name, env in job_env_names(names).items()}

    def _environment_access(self, paths: JobPaths, spec: dict[str, Any]) -> tuple[list[Path], list[Path]]:
        """What the job may read and write of the environment cache; notes the sandbox in ``spec``.

        A ready environment is read-only to the job. One still to build is writable to the runner
        (pip installs into it), and the script then runs in a second, tighter box that only reads it.
        """
        isolation = self.sandbox.isolation
        spec["sandbox"] = (f"Sandbox: {isolation.mechanism}; this job reads its own folder and the Python "
                           "environment, and writes only its own folder." if isolation.isolated else
                           f"Sandbox: none ({isolation.message}).")
        req = paths.code / "requirements.txt"
        if not req.is_file():
            return [], []
        env_dir = environment_dir(self.settings.envs_dir, req.read_bytes())
        if is_ready(env_dir):
            return [env_dir], []
        env_dir.mkdir(parents=True, exist_ok=True)
        if self.sandbox.active:
            spec["script_sandbox"] = self.sandbox.wrap([], read=[env_dir], write=[paths.root])
        return [], [env_dir]

    def _spec(self, job: Job) -> dict[str, Any]:
        return {
            "name": job.name, "kind": job.kind, "algorithm": job.algorithm, "framework": job.framework,
            "entry_point": job.entry_point, "hyperparameters": job.hyperparameters, "channels": job.inputs,
            "label": job.label, "problem_type": job.problem_type, "validation_split": job.validation_split,
            "memory_limit_mb": job.memory_limit_mb, "num_cpus": os.cpu_count(),
            "env_cache_dir": str(self.settings.envs_dir),
            "outputs": job.outputs or {}, "arguments": list(job.arguments or []),
            "lineage": {"job": job.name, "algorithm": job.algorithm,
                        "datasets": {k: v["ref"] for k, v in job.inputs.items()},
                        "hyperparameters": job.hyperparameters, "code_sha256": job.source_sha256},
        }

    def _signature_hint(self, inputs: dict[str, Any], label: str | None) -> dict[str, Any] | None:
        """For scripts: the train channel's columns (less the label) as the model's inputs, a best guess."""
        train = inputs.get("train")
        if train is None or train["format"] not in ("csv", "parquet", "jsonl"):
            return None
        v = self.datasets.get(train["ref"])
        label = label or v.label
        return {"input_kind": "tabular", "inputs": [{"name": c.name, "dtype": c.dtype} for c in v.schema_
                                                     if c.name != label], "input_shape": None, "labels": None}

    # -- following -------------------------------------------------------------------------------

    def pump(self, name: str, final: bool = False) -> None:
        """Take new log lines and metric records of a running job into the database (and the log into the store)."""
        paths = self.paths(name)
        with self.db.session() as s:
            job = s.execute(select(Job).where(Job.name == name)).scalar_one()
            log_offset, metrics_offset, definitions = job.log_offset, job.metrics_offset, job.metric_definitions
            handle = job.handle
        if handle and not final:  # the job may run elsewhere: its new lines come here first (finish collects)
            self.executor.sync(handle, paths.root, paths.logs)
        points: list[tuple[str, float, int | None, dt.datetime]] = []
        new_log_offset = log_offset
        if definitions and paths.logs.is_file():
            with open(paths.logs, "rb") as f:
                f.seek(log_offset)
                chunk = f.read()
            end = len(chunk) if final else chunk.rfind(b"\n") + 1
            new_log_offset = log_offset + end
            compiled = [(d["name"], re.compile(d["regex"])) for d in definitions]
            now = utcnow()
            for line in chunk[:end].decode("utf-8", "replace").splitlines():
                for metric, rx in compiled:
                    m = rx.search(line)
                    if m:
                        try:
                            points.append((metric, float(m.group(1)), None, now))
                        except (ValueError, IndexError, TypeError):
                            continue
        new_metrics_offset = metrics_offset
        if paths.metrics.is_file():
            with open(paths.metrics, "rb") as f:
                f.seek(metrics_offset)
                chunk = f.read()
            end = chunk.rfind(b"\n") + 1
            new_metrics_offset = metrics_offset + end
            for line in chunk[:end].splitlines():
                try:
                    rec = json.loads(line)
                    points.append((str(rec["name"])[:255], float(rec["value"]), rec.get("step"),
                                   dt.datetime.fromtimestamp(float(rec["timestamp"]), dt.UTC)))
                except (ValueError, KeyError, TypeError):
                    continue
        if points or new_log_offset != log_offset or new_metrics_offset != metrics_offset:
            def _store(job: Job, s: Session) -> None:
                final_metrics = dict(job.final_metrics or {})
                for metric, value, step, when in points:
                    s.add(JobMetric(job_id=job.id, name=metric, value=value, step=step, timestamp=when))
                    final_metrics[metric] = value
                job.final_metrics = final_metrics
                job.log_offset = new_log_offset
                job.metrics_offset = new_metrics_offset

            self._update(name, _store)
        self._upload_log(name, paths, force=final)

    def _upload_log(self, name: str, paths: JobPaths, force: bool) -> None:
        if not paths.logs.is_file():
            return
        size = paths.logs.stat().st_size
        when, last = self._log_uploaded.get(name, (0.0, -1))
        if size != last and (force or time.monotonic() - when >= LOG_UPLOAD_EVERY):
            self.store.put_file(logs_key(name), paths.logs)
            self._log_uploaded[name] = (time.monotonic(), size)

    def check(self, name: str, status: str, handle: str | None) -> bool:
        """Enforce max runtime and stop requests; True when the process has ended and the job needs finishing."""
        if handle is None:
            return False
        state = self.executor.poll(handle)
        if not state.running:
            return True
        with self.db.session() as s:
            job = s.execute(select(Job).where(Job.name == name)).scalar_one()
            started, max_runtime, stop_at = job.started_at, job.max_runtime, job.stop_requested_at
        now = utcnow()
        if status == "InProgress" and started and (now - started).total_seconds() > max_runtime:
            def _timeout(job: Job, s: Session) -> None:
                transition(job, "Stopping", "MaxRuntimeExceeded",
                           f"The job ran longer than its max runtime of {max_runtime} s.")
                job.stop_requested_at = now

            self._update(name, _timeout)
            self.executor.terminate(handle)
            self._terminated.add(name)
        elif status == "Stopping" and stop_at is not None:
            waited = (now - stop_at).total_seconds()
            if waited >= self.settings.job_stop_grace:
                self.executor.kill(handle)
            elif name not in self._terminated:
                self.executor.terminate(handle)  # once: a second SIGTERM would interrupt the clean-up
                self._terminated.add(name)
        return False

    # -- finishing -------------------------------------------------------------------------------

    def finish(self, name: str) -> None:
        """The process has ended: record the outcome, upload model, output and log, remove the folder."""
        paths = self.paths(name)
        with self.db.session() as s:
            handle = s.execute(select(Job.handle).where(Job.name == name)).scalar_one()
        if handle:
            try:
                self.executor.collect(handle, paths.root, paths.logs)  # the last lines, the result, the model
            except Exception:
                log.exception("Collecting the results of job %s failed", name)
        try:
            self.pump(name, final=True)
        except Exception:
            log.exception("Reading the last metrics of job %s failed", name)
        with self.db.session() as s:
            job = s.execute(select(Job).where(Job.name == name)).scalar_one()
            stopping, secondary, handle, limit = job.status == "Stopping", job.secondary_status, job.handle, \
                job.memory_limit_mb
            kind = job.kind
        state = self.executor.poll(handle) if handle else None
        exit_code = state.exit_code if state else None
        result = self._result(paths)
        status, reason = "Failed", None
        if result is not None:
            status, reason = result.get("status", "Failed"), result.get("failure_reason")
        elif state is not None and state.reason:
            reason = state.reason  # the executor knows why (a Ray node lost), stop requested or not
            stopping = False
        elif not stopping:
            reason = f"The job process ended without reporting a result ({describe_exit(exit_code)})."
            tail = last_lines(paths.logs)
            if tail:
                reason += " Its last lines:\n" + tail
            if limit and exit_code in (-9, 137):
                reason = f"The job exceeded its memory limit of {limit} MB and was killed. " + reason
        if stopping and status != "Completed":
            status, reason = "Stopped", None
        final_secondary = "MaxRuntimeExceeded" if secondary == "MaxRuntimeExceeded" else status
        model_key = output_key = None
        if status == "Completed" and kind == "processing":
            try:
                self._update(name, lambda j, s: transition(j, secondary="Uploading",
                                                           message="Pushing the outputs as dataset versions."))
                self._publish_outputs(name, paths)
            except Exception as exc:
                log.exception("Pushing the outputs of job %s failed", name)
                status, final_secondary = "Failed", "Failed"
                reason = exc.message if isinstance(exc, InvalidArgument) else f"Pushing the outputs failed: {exc}"
        elif status == "Completed":
            try:
                self._update(name, lambda j, s: transition(j, secondary="Uploading",
                                                           message="Uploading the model artifact."))
                model_key, output_key = self._upload_artifacts(name, paths)
            except Exception as exc:
                log.exception("Uploading the model of job %s failed", name)
                status, final_secondary, reason = "Failed", "Failed", f"Uploading the model failed: {exc}"
        try:
            self._upload_log(name, paths, force=True)
        except Exception:
            log.exception("Uploading the log of job %s failed", name)
        self._end(name, status, final_secondary, reason, model_key, output_key)
        self._release(handle)
        self._log_uploaded.pop(name, None)
        self._terminated.discard(name)
        shutil.rmtree(paths.root, ignore_errors=True)

    def _release(self, handle: str | None) -> None:
        if handle:
            try:
                self.executor.release(handle)
            except Exception:
                log.exception("Releasing %s failed", handle)

    def _publish_outputs(self, name: str, paths: JobPaths) -> None:
        """Each output channel of a processing job becomes a new version of its dataset, with lineage: the
        job (``Reference`` dataset_version -> job, role ``output:<channel>``) and the job's input versions."""
        with self.db.session() as s:
            job = s.execute(select(Job).where(Job.name == name)).scalar_one()
            outputs, user = dict(job.outputs or {}), job.created_by
            label = job.label if job.algorithm and not job.entry_point else None  # built-ins keep the label
            inputs = {k: v["ref"] for k, v in (job.inputs or {}).items()}
        for channel, info in sorted(outputs.items()):
            folder = paths.processing_output(channel)
            files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
            if not files:
                raise InvalidArgument(
                    f"The script wrote nothing to output {channel!r} (/opt/ml/processing/output/{channel}, here "
                    f"{folder}). Write the files of dataset {info['dataset']!r} there.",
                    {"field": "outputs", "value": channel})
            self.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
            spooled = self.settings.tmp_dir / f"{name}-{channel}.out"
            description = f"Output {channel!r} of processing job {name}" + (
                f" from {', '.join(f'{k}={v}' for k, v in sorted(inputs.items()))}" if inputs else "")
            if len(files) == 1:
                shutil.copyfile(files[0], spooled)
                kind, filename, fmt = "file", files[0].name, None
            else:
                from slipway.data import pack_folder

                with open(spooled, "wb") as out:
                    pack_folder(folder, out)
                kind, filename, fmt = "folder", channel, "files"
            result = self.datasets.push(info["dataset"], spooled, filename=filename, kind=kind, format=fmt,
                                        label=label if kind == "file" else None, description=description,
                                        user=user)
            ref = result.version.ref

            def _record(job: Job, s: Session, channel: str = channel, ref: str = ref) -> None:
                s.add(Reference(source_kind="dataset_version", source_id=ref, target_kind="job", target_id=name,
                                role=f"output:{channel}"))
                job.outputs = {**job.outputs, channel: {**job.outputs[channel], "ref": ref}}

            self._update(name, _record)

    @staticmethod
    def _result(paths: JobPaths) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(paths.result.read_text())
            return data
        except (OSError, ValueError):
            return None

    def _end(self, name: str, status: str, secondary: str, reason: str | None, model_key: str | None = None,
             output_key: str | None = None) -> None:
        def _do(job: Job, s: Session) -> None:
            message = (reason or "").splitlines()[0][:200] if reason else ""
            transition(job, status, secondary, message)
            old = job.transitions[-1]
            job.transitions = [*job.transitions[:-1], {**old, "end_time": old["start_time"]}]
            job.failure_reason = reason
            job.ended_at = utcnow()
            job.model_key, job.output_key = model_key, output_key
            emit(s, "job.finished", name, {"status": status, "kind": job.kind})

        self._update(name, _do)

    @staticmethod
    def _complete_manifest(model_dir: Path, final: dict[str, Any], lineage: dict[str, Any]) -> None:
        """Add what only the server knows to the job's manifest: the final metrics (log regexes), the lineage.

        A manifest the script wrote that breaks the contract is left as it is: registering says what is wrong.
        """
        try:
            manifest = Manifest.read(model_dir) if (model_dir / MANIFEST).exists() else Manifest("custom")
        except InvalidArgument:
            return
        manifest = manifest.replace(
            metrics={**manifest.metrics, **final},
            lineage={**lineage, **{k: v for k, v in manifest.lineage.items() if v is not None}},
            created_at=manifest.created_at or utcnow().isoformat(),
        )
        (model_dir / MANIFEST).write_bytes(manifest.to_bytes())

    def _upload_artifacts(self, name: str, paths: JobPaths) -> tuple[str, str | None]:
        with self.db.session() as s:
            job = s.execute(select(Job).where(Job.name == name)).scalar_one()
            final, lineage = dict(job.final_metrics or {}), self._spec(job)["lineage"]
        self._complete_manifest(paths.model, final, lineage)
        tmp = self.settings.tmp_dir / f"{name}-model.tar.gz"
        try:
            with tarfile.open(tmp, "w:gz", compresslevel=FAST_GZIP) as tar:
                for child in sorted(paths.model.iterdir()):
                    tar.add(child, arcname=child.name)
                code = paths.code / "code" if (paths.code / "code").is_dir() else paths.code
                if not (paths.model / "code").exists() and code.is_dir() and any(code.iterdir()):
                    tar.add(code, arcname="code", filter=lambda t: None if "__pycache__" in t.name else t)
            model_key = f"jobs/{name}/model.tar.gz"
            self.store.put_file(model_key, tmp)
            output_key = None
            if paths.output_data.is_dir() and any(paths.output_data.iterdir()):
                with tarfile.open(tmp, "w:gz", compresslevel=FAST_GZIP) as tar:
                    for child in sorted(paths.output_data.iterdir()):
                        tar.add(child, arcname=child.name)
                output_key = f"jobs/{name}/output.tar.gz"
                self.store.put_file(output_key, tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return model_key, output_key

    # -- recovering ------------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """After a restart: jobs whose process is gone end now; live ones are followed again. Returns the
        names whose process ended (to finish) ."""
        to_finish: list[str] = []
        for name, _status, handle in self.active():
            if handle is None:
                self._end(name, "Failed", "Failed", "The server stopped while the job was starting; it never ran.")
                shutil.rmtree(self.paths(name).root, ignore_errors=True)
                continue
            state = self.executor.poll(handle)
            if state.running:
                log.info("Following job %s again after a restart", name)
                continue
            if state.reason is None:
                try:
                    self.executor.collect(handle, self.paths(name).root, self.paths(name).logs)
                except Exception:
                    log.exception("Collecting the results of job %s failed", name)
            if self._result(self.paths(name)) is not None:
                to_finish.append(name)  # it ended while the server was down; its result is there
                continue
            self._end(name, "Failed", "Failed", state.reason or
                      f"The job's process ({handle}) is gone: the server restarted while the job ran and it "
                      "did not finish.")
            self._release(handle)
            try:
                self._upload_log(name, self.paths(name), force=True)
            except Exception:
                log.exception("Uploading the log of job %s failed", name)
            shutil.rmtree(self.paths(name).root, ignore_errors=True)
        return to_finish
