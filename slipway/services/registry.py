"""Model registry: groups of immutable numbered versions, approval, aliases with history, import/export.

Artifacts are stored through the platform's artifact store as tar.gz; an imported backup with a
manifest is stored byte for byte, so exporting it again gives the same sha256.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.artifacts import MANIFEST, Manifest, Signature, is_tar, pack_artifact, unpack_artifact
from slipway.db import Database, utcnow
from slipway.db.models import ModelAlias, ModelBaseline, ModelEvent, ModelGroup, ModelVersion, Reference
from slipway.errors import Conflict, InvalidArgument, NotFound
from slipway.inspection import Inspector, copy_export
from slipway.names import check_name, parse_ref
from slipway.schemas import ModelEventView, ModelSummary, ModelVersionView, Page
from slipway.services.events import emit
from slipway.storage import ArtifactStore

__all__ = ["APPROVALS", "RegistryService", "parse_model_ref"]

APPROVALS = ("PendingManualApproval", "Approved", "Rejected")
MODEL_FILES = (".joblib", ".pkl", ".pickle")
DEEP_FILES = {".keras": "model.keras", ".pt": "model.pt", ".pth": "model.pt"}  # single files, stored under this name
SINGLE_FILE_FRAMEWORKS = ("sklearn", "keras", "pytorch")


def parse_model_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``cancer`` / ``cancer:latest`` -> (cancer, None, None); ``cancer:3`` -> (cancer, 3, None);
    ``cancer@production`` -> (cancer, None, "production")."""
    if "@" in ref:
        name, _, alias = ref.partition("@")
        check_name(name, "model")
        check_name(alias, "alias")
        return name, None, alias
    name, number = parse_ref(ref, "model")
    return name, number, None


def _view(g: ModelGroup, v: ModelVersion, aliases: list[str] | None = None, used_by: list[str] | None = None
          ) -> ModelVersionView:
    m = v.manifest or {}
    from slipway.artifacts.onnx_runtime import runtime_of

    runtime, why = runtime_of(m)
    return ModelVersionView(
        name=g.name, version=v.version, ref=f"{g.name}:{v.version}", framework=v.framework,
        problem_type=v.problem_type, signature=m.get("signature") or {}, metrics=m.get("metrics") or {},
        lineage=m.get("lineage") or {}, source=v.source or {}, approval=v.approval,
        approval_reason=v.approval_reason, approval_by=v.approval_by, approval_at=v.approval_at,
        aliases=sorted(aliases or []), used_by=used_by or [], description=v.description, size=v.size,
        sha256=v.sha256, created_at=v.created_at, created_by=v.created_by, runtime=runtime, runtime_reason=why,
    )


class RegistryService:
    def __init__(self, db: Database, store: ArtifactStore, tmp_dir: Path, inspector: Inspector,
                 on_delete: Callable[[str], None] | None = None) -> None:
        self.db = db
        self.store = store
        self.tmp_dir = tmp_dir
        self.inspector = inspector
        self.on_delete = on_delete  # told the ref of each deleted version (serving copies go with it)

    # -- registering ---------------------------------------------------------------------------

    def register(
        self,
        name: str,
        artifact: Path,
        source: dict[str, Any] | None = None,
        user: str = "",
        *,
        description: str = "",
        framework: str | None = None,
        onnx: bool = True,
    ) -> ModelVersionView:
        """Validate ``artifact`` against the contract, store it as tar.gz, record a new version.

        ``artifact`` is a model folder, a model.tar.gz (with slipway-model.json, or SageMaker-style
        with code/inference.py), or a .joblib/.pkl scikit-learn estimator. With ``onnx`` (the default)
        a scikit-learn model or a PyTorch network without custom code gets a verified ONNX export for the
        fast serving path. Whatever needs the model loaded runs in the inspector's sandboxed child.
        """
        check_name(name, "model")
        artifact = Path(artifact)
        if not artifact.exists():
            raise InvalidArgument(
                f"Path {str(artifact)!r} does not exist. Expected a model folder, model.tar.gz or .joblib file.",
                {"field": "artifact", "value": str(artifact)},
            )
        if framework is not None and framework not in SINGLE_FILE_FRAMEWORKS:
            raise InvalidArgument(
                f"Framework {framework!r} cannot be imported from a single file. Expected one of "
                f"{', '.join(SINGLE_FILE_FRAMEWORKS)}, or a model.tar.gz written to the artifact contract.",
                {"field": "framework", "value": framework, "expected": list(SINGLE_FILE_FRAMEWORKS)},
            )
        suffix = artifact.suffix.lower()
        kind = "keras" if suffix == ".keras" else "pytorch" if suffix in (".pt", ".pth") else \
            "sklearn" if suffix in MODEL_FILES else None
        if framework is not None and kind is not None and framework != kind:
            raise InvalidArgument(
                f"Framework {framework!r} does not match {artifact.name!r}, a {kind} file. Expected "
                f"--framework {kind}, or none.",
                {"field": "framework", "value": framework, "expected": kind},
            )
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="model-", dir=self.tmp_dir))
        try:
            folder, original = self._unpack(artifact, work)
            tar, manifest = self._complete(folder, original, work, onnx)
            return self._store_and_record(name, tar, manifest, source or {"kind": "import"}, user, description)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def register_from_job(
        self, name: str, job: str, artifact: Path, user: str = "", *, description: str = "",
        extra_lineage: dict[str, Any] | None = None, onnx: bool = True,
    ) -> ModelVersionView:
        """Entry point for `slipway models register JOB --name NAME`: the job's model.tar.gz (or folder).

        The job name is recorded as the source and in the lineage (with ``extra_lineage``, e.g.
        dataset versions the job read when its manifest does not list them).
        """
        check_name(job, "job")
        artifact = Path(artifact)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="model-", dir=self.tmp_dir))
        try:
            folder, original = self._unpack(artifact, work)
            if not any(p.is_file() for p in folder.rglob("*")):
                raise InvalidArgument(
                    f"The model of job {job!r} is empty: nothing to register. Expected the files the job saved in "
                    "its model folder (SM_MODEL_DIR), e.g. model.joblib, xgboost-model or model.pth.",
                    {"field": "source", "value": job, "expected": "a model file in the job's model folder"},
                )
            tar, manifest = self._complete(folder, original, work, onnx, {**(extra_lineage or {}), "job": job})
            return self._store_and_record(name, tar, manifest, {"kind": "job", "job": job}, user, description)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _unpack(self, artifact: Path, work: Path) -> tuple[Path, Path | None]:
        """The artifact's files in a private folder, and the tar.gz they came from (None for a folder or a file)."""
        folder = work / "artifact"
        if artifact.is_dir():
            shutil.copytree(artifact, folder)
            return folder, None
        deep_file = DEEP_FILES.get(artifact.suffix.lower())
        if deep_file is not None or artifact.suffix.lower() in MODEL_FILES:
            # A Keras 3 .keras file, a TorchScript model.pt, or a scikit-learn estimator.
            folder.mkdir()
            shutil.copyfile(artifact, folder / (deep_file or "model.joblib"))
            return folder, None
        if not is_tar(artifact):
            raise InvalidArgument(
                f"{artifact.name!r} is neither a folder, a tar.gz nor a .joblib/.pkl, .keras or .pt file. Expected a model "
                "artifact (see 'Model artifact' in docs/developing.md).",
                {"field": "artifact", "value": artifact.name},
            )
        unpack_artifact(artifact, folder)
        return folder, artifact

    def _complete(self, folder: Path, original: Path | None, work: Path, onnx: bool,
                  lineage: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
        """Return (tar.gz to store, validated manifest): the manifest inferred when there is none, the
        lineage added, the ONNX export (or the reason there is none) recorded once.

        An artifact whose manifest already has the ``onnx`` field (a backup, an export) is stored byte for
        byte as it came, so export -> import -> export keeps its sha256.
        """
        describe: str | None = None
        if (folder / MANIFEST).exists():
            manifest = Manifest.read(folder).to_dict()
        else:
            manifest, describe = self._manifest_template(folder)
        changed = describe is not None
        if lineage is not None:
            merged = {**(manifest.get("lineage") or {}), **lineage}
            changed = changed or merged != manifest.get("lineage")
            manifest = {**manifest, "lineage": merged}
        if "onnx" not in manifest:
            changed = True
            if not onnx:
                manifest["onnx"] = {"verified": False, "disabled": True,
                                    "reason": "ONNX turned off at registration (--no-onnx)"}
        if not changed and original is not None:
            return original, manifest
        if describe is not None or "onnx" not in manifest:
            scratch = work / "inspect"
            found = self.inspector.inspect(folder, manifest, describe=describe, onnx="onnx" not in manifest,
                                           scratch=scratch)
            manifest = {**manifest, **found.fields}
            copy_export(found, folder)
            shutil.rmtree(scratch, ignore_errors=True)
        typed = Manifest.from_dict(manifest, folder)
        typed.write(folder)
        manifest = typed.to_dict()
        tar = work / "model.tar.gz"
        pack_artifact(folder, tar)
        return tar, manifest

    def _manifest_template(self, folder: Path) -> tuple[dict[str, Any], str | None]:
        """slipway-model.json for a bring-your-own model, from its file names alone, and the estimator file
        whose signature and problem type the inspector must read (None when nothing needs loading)."""
        candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MODEL_FILES)
        has_code = (folder / "code" / "inference.py").is_file()
        deep = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".pt", ".pth", ".keras")),
                      key=lambda p: (p.suffix != ".keras", p.name))
        describe = None
        created = utcnow().isoformat(timespec="seconds")
        if candidates:
            describe = candidates[0].name  # the inspector fills in the problem type and the signature
            manifest = Manifest("sklearn", candidates[0].name, signature=Signature(), created_at=created)
        elif deep:
            # SageMaker PyTorch (model.pt/.pth, maybe code/inference.py with model_fn) or a Keras file: the
            # replica reads the input shape and classes off the model.
            manifest = Manifest("keras" if deep[0].suffix == ".keras" else "pytorch", deep[0].name,
                                signature=Signature("array"), created_at=created)
        elif has_code:
            manifest = Manifest("custom", signature=Signature("array"), created_at=created)
        else:
            raise InvalidArgument(
                f"The artifact has no {MANIFEST}, no .joblib, .keras or model.pt/model.pth model and no "
                "code/inference.py. Expected a model written to the contract, a scikit-learn estimator, a Keras "
                "file, or a SageMaker model (model.pth with code/inference.py).",
                {"field": "artifact", "value": sorted(p.name for p in folder.iterdir())},
            )
        if describe is None:
            manifest = Manifest.from_dict(manifest.to_dict(), folder)
        return manifest.to_dict(), describe

    def _store_and_record(
        self, name: str, tar: Path, manifest: dict[str, Any], source: dict[str, Any], user: str, description: str
    ) -> ModelVersionView:
        key = f"models/{name}/{uuid.uuid4().hex}.tar.gz"
        info = self.store.put_file(key, tar)
        try:
            for attempt in range(3):
                try:
                    return self.db.run(
                        lambda s: self._record(s, name, key, info.size, info.sha256, manifest, source, user, description)
                    )
                except IntegrityError:  # a concurrent register took the number
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        except BaseException:
            self.store.delete(key)
            raise

    def _record(
        self, s: Session, name: str, key: str, size: int, sha256: str, manifest: dict[str, Any],
        source: dict[str, Any], user: str, description: str,
    ) -> ModelVersionView:
        g = s.execute(select(ModelGroup).where(ModelGroup.name == name).with_for_update()).scalar_one_or_none()
        if g is None:
            g = ModelGroup(name=name, description=description, version_counter=0, created_by=user)
            s.add(g)
            s.flush()
        g.version_counter += 1
        v = ModelVersion(
            group_id=g.id, version=g.version_counter, framework=manifest["framework"],
            problem_type=manifest.get("problem_type"), manifest=manifest, source=source,
            approval="PendingManualApproval", description=description, storage_key=key, size=size,
            sha256=sha256, created_by=user,
        )
        s.add(v)
        ref = f"{name}:{v.version}"
        lineage = manifest.get("lineage") or {}
        for channel, dataset in sorted((lineage.get("datasets") or {}).items()):
            s.add(Reference(source_kind="model_version", source_id=ref, target_kind="dataset_version",
                            target_id=dataset, role=channel))
        if lineage.get("job"):
            s.add(Reference(source_kind="model_version", source_id=ref, target_kind="job",
                            target_id=str(lineage["job"]), role="created_by"))
        s.add(ModelEvent(model=name, kind="register", version=v.version, to_value=str(v.version), by=user,
                         reason=f"{source.get('kind', 'import')}" + (f" {source['job']}" if source.get("job") else "")))
        emit(s, "model.version_registered", name, {"ref": ref, "version": v.version})
        s.flush()
        return _view(g, v)

    # -- resolving and reading -------------------------------------------------------------------

    def _group(self, s: Session, name: str) -> ModelGroup:
        g = s.execute(select(ModelGroup).where(ModelGroup.name == name)).scalar_one_or_none()
        if g is None:
            raise NotFound(
                f"Model {name!r} not found. Register it first: slipway models import PATH --name {name}",
                {"field": "name", "value": name},
            )
        return g

    def _resolve(self, s: Session, ref: str) -> tuple[ModelGroup, ModelVersion]:
        name, number, alias = parse_model_ref(ref)
        g = self._group(s, name)
        if alias is not None:
            row = s.execute(
                select(ModelAlias).where(ModelAlias.group_id == g.id, ModelAlias.alias == alias)
            ).scalar_one_or_none()
            if row is None:
                known = sorted(a.alias for a in g.aliases)
                raise NotFound(
                    f"Model {name!r} has no alias {alias!r}. Aliases of {name!r}: {', '.join(known) or 'none'}. "
                    f"Set one with: slipway models alias {name} {alias} VERSION",
                    {"field": "alias", "value": alias, "known_aliases": known},
                )
            number = row.version
        q = select(ModelVersion).where(ModelVersion.group_id == g.id)
        if number is None:
            v = s.execute(q.order_by(ModelVersion.version.desc()).limit(1)).scalar_one_or_none()
        else:
            v = s.execute(q.where(ModelVersion.version == number)).scalar_one_or_none()
        if v is None:
            known = s.execute(
                select(ModelVersion.version).where(ModelVersion.group_id == g.id).order_by(ModelVersion.version)
            ).scalars().all()
            raise NotFound(
                f"Model version {ref!r} not found. Versions of {name!r}: {', '.join(map(str, known)) or 'none'}.",
                {"field": "version", "value": ref, "known_versions": list(known)},
            )
        return g, v

    def _full_view(self, s: Session, g: ModelGroup, v: ModelVersion) -> ModelVersionView:
        aliases = [a.alias for a in g.aliases if a.version == v.version]
        view = _view(g, v, aliases, self._endpoint_users(s, f"{g.name}:{v.version}"))
        b = s.execute(select(ModelBaseline).where(ModelBaseline.model == g.name, ModelBaseline.version == v.version)
                      ).scalar_one_or_none()
        if b is not None:
            view.baseline = {"status": b.status, "dataset": b.dataset, "rows": b.rows, "total_rows": b.total_rows,
                             "features": b.features, "reason": b.reason}
        return view

    def _endpoint_users(self, s: Session, ref: str) -> list[str]:
        rows = s.execute(select(Reference.source_id).where(
            Reference.target_kind == "model_version", Reference.target_id == ref, Reference.source_kind == "endpoint"
        )).scalars().all()
        return sorted(set(rows))

    def get(self, ref: str) -> ModelVersionView:
        with self.db.session() as s:
            return self._full_view(s, *self._resolve(s, ref))

    def resolve(self, ref: str) -> str:
        """``name@alias`` / ``name:latest`` -> ``name:N``."""
        with self.db.session() as s:
            g, v = self._resolve(s, ref)
            return f"{g.name}:{v.version}"

    def artifact(self, ref: str) -> tuple[ModelVersionView, str]:
        """The version and the store key of its tar.gz."""
        with self.db.session() as s:
            g, v = self._resolve(s, ref)
            return _view(g, v), v.storage_key

    def open_artifact(self, ref: str) -> tuple[ModelVersionView, Iterator[bytes]]:
        view, key = self.artifact(ref)
        return view, self.store.iter_chunks(key)

    def list(self, limit: int = 50, offset: int = 0) -> Page[ModelSummary]:
        with self.db.session() as s:
            total = s.scalar(select(func.count(ModelGroup.id))) or 0
            groups = s.execute(select(ModelGroup).order_by(ModelGroup.name).limit(limit).offset(offset)).scalars()
            items = []
            for g in groups:
                latest = s.execute(select(ModelVersion).where(ModelVersion.group_id == g.id)
                                   .order_by(ModelVersion.version.desc()).limit(1)).scalar_one_or_none()
                count = s.scalar(select(func.count(ModelVersion.id)).where(ModelVersion.group_id == g.id)) or 0
                items.append(ModelSummary(
                    name=g.name, description=g.description, versions=count,
                    latest=self._full_view(s, g, latest) if latest else None,
                    aliases={a.alias: a.version for a in sorted(g.aliases, key=lambda a: a.alias)},
                    created_at=g.created_at, created_by=g.created_by,
                ))
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[ModelSummary](items=items, total=total, next_page_token=nxt)

    def list_versions(self, name: str, limit: int = 50, offset: int = 0) -> Page[ModelVersionView]:
        check_name(name, "model")
        with self.db.session() as s:
            g = self._group(s, name)
            q = select(ModelVersion).where(ModelVersion.group_id == g.id)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.execute(q.order_by(ModelVersion.version.desc()).limit(limit).offset(offset)).scalars().all()
            items = [self._full_view(s, g, v) for v in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[ModelVersionView](items=items, total=total, next_page_token=nxt)

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(ModelVersion.id))) or 0

    # -- approval, aliases, history --------------------------------------------------------------

    def set_approval(self, ref: str, status: str, reason: str = "", user: str = "") -> ModelVersionView:
        if status not in APPROVALS:
            raise InvalidArgument(
                f"Approval status {status!r} is not valid. Expected one of: {', '.join(APPROVALS)}.",
                {"field": "status", "value": status, "expected": list(APPROVALS)},
            )

        def _do(s: Session) -> ModelVersionView:
            g, v = self._resolve(s, ref)
            if v.approval != status:
                s.add(ModelEvent(model=g.name, kind="approval", version=v.version, from_value=v.approval,
                                 to_value=status, reason=reason, by=user))
            if status == "Approved" and v.approval != "Approved":
                emit(s, "model.version_approved", g.name, {"ref": f"{g.name}:{v.version}", "version": v.version})
            v.approval, v.approval_reason, v.approval_by, v.approval_at = status, reason, user, utcnow()
            s.flush()
            return self._full_view(s, g, v)

        return self.db.run(_do)

    def set_alias(self, name: str, alias: str, version: int, user: str = "") -> ModelVersionView:
        check_name(alias, "alias")
        if alias == "latest" or alias.isdigit():
            raise InvalidArgument(
                f"The alias {alias!r} is reserved. Expected a name such as production or staging.",
                {"field": "alias", "value": alias},
            )

        def _do(s: Session) -> ModelVersionView:
            g, v = self._resolve(s, f"{name}:{version}")
            row = s.execute(select(ModelAlias).where(ModelAlias.group_id == g.id, ModelAlias.alias == alias)
                            .with_for_update()).scalar_one_or_none()
            before = row.version if row else None
            if row is None:
                s.add(ModelAlias(group_id=g.id, alias=alias, version=v.version, updated_by=user))
            else:
                row.version, row.updated_at, row.updated_by = v.version, utcnow(), user
            if before != v.version:
                s.add(ModelEvent(model=g.name, kind="alias", alias=alias, version=v.version,
                                 from_value=str(before) if before else None, to_value=str(v.version), by=user))
            s.flush()
            s.refresh(g)
            return self._full_view(s, g, v)

        return self.db.run(_do)

    def remove_alias(self, name: str, alias: str, user: str = "") -> None:
        def _do(s: Session) -> None:
            g = self._group(s, name)
            row = s.execute(select(ModelAlias).where(ModelAlias.group_id == g.id, ModelAlias.alias == alias)
                            ).scalar_one_or_none()
            if row is None:
                raise NotFound(f"Model {name!r} has no alias {alias!r}.", {"field": "alias", "value": alias})
            s.add(ModelEvent(model=name, kind="alias", alias=alias, version=None, from_value=str(row.version),
                             to_value=None, by=user))
            s.delete(row)

        self.db.run(_do)

    def history(self, name: str, alias: str | None = None) -> list[ModelEventView]:
        check_name(name, "model")
        with self.db.session() as s:
            q = select(ModelEvent).where(ModelEvent.model == name)
            if alias is not None:
                q = q.where(ModelEvent.alias == alias)
            rows = s.execute(q.order_by(ModelEvent.id)).scalars().all()
            if not rows:
                self._group(s, name)
            return [ModelEventView(model=r.model, kind=r.kind, alias=r.alias, version=r.version,
                                   from_value=r.from_value, to_value=r.to_value, reason=r.reason, at=r.at, by=r.by)
                    for r in rows]

    # -- deleting --------------------------------------------------------------------------------

    def delete_version(self, ref: str, force: bool = False, user: str = "") -> ModelVersionView:
        """Delete ``name:N``. Refused while an endpoint serves it (always) or an alias points at it."""
        name, number, alias = parse_model_ref(ref)
        if number is None or alias is not None:
            raise InvalidArgument(
                f"Delete needs an explicit version, got {ref!r}. Expected name:N (e.g. {name}:1).",
                {"field": "ref", "value": ref},
            )

        def _do(s: Session) -> tuple[ModelVersionView, str]:
            g, v = self._resolve(s, ref)
            view = self._full_view(s, g, v)
            if view.used_by:
                raise Conflict(
                    f"Model version {view.ref} is served by endpoint {', '.join(view.used_by)}. Update or delete "
                    "the endpoint first.", {"field": "ref", "value": view.ref, "used_by": view.used_by},
                )
            if view.aliases and not force:
                raise Conflict(
                    f"Model version {view.ref} holds alias {', '.join(view.aliases)}. Move the alias first, "
                    "or pass --force.", {"field": "ref", "value": view.ref, "aliases": view.aliases},
                )
            for a in list(g.aliases):
                if a.version == v.version:
                    s.add(ModelEvent(model=g.name, kind="alias", alias=a.alias, from_value=str(v.version), by=user))
                    s.delete(a)
            for r in s.execute(select(Reference).where(Reference.source_kind == "model_version",
                                                       Reference.source_id == view.ref)).scalars():
                s.delete(r)
            s.add(ModelEvent(model=g.name, kind="delete", version=v.version, from_value=str(v.version), by=user))
            key = v.storage_key
            s.delete(v)
            return view, key

        view, key = self.db.run(_do)
        self.store.delete(key)
        if self.on_delete is not None:
            self.on_delete(view.ref)
        return view
