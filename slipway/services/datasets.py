"""Datasets: named, immutable, numbered, checksummed versions of files and folders."""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.data import (
    FORMATS,
    STREAMABLE,
    DatasetInfo,
    detect_format,
    inspect,
    inspect_stream,
    sniff_format,
    unpack_folder,
)
from slipway.data.formats import _read_up_to
from slipway.db import Database
from slipway.db.models import Dataset, DatasetVersion, Reference
from slipway.errors import Conflict, InvalidArgument, NotFound, PayloadTooLarge
from slipway.names import check_name, parse_ref
from slipway.schemas import (
    ColumnSchema,
    DatasetSummary,
    DatasetVersionView,
    Page,
    PushResult,
)
from slipway.services.events import emit
from slipway.storage import ArtifactStore, copy_hashing
from slipway.storage.pipe import BlockPipe, Tee

__all__ = ["DatasetService", "version_view"]

FOLDER_FORMATS = ("text-folder", "image-folder", "files")
_PULL_BLOCK = 1 << 20  # the encrypted store's chunk: each decrypted chunk is handed on as it is, no join


def version_view(ds: Dataset, v: DatasetVersion) -> DatasetVersionView:
    return DatasetVersionView(
        name=ds.name,
        version=v.version,
        ref=f"{ds.name}:{v.version}",
        format=v.format,
        kind=v.kind,
        filename=v.filename,
        size=v.size,
        sha256=v.sha256,
        rows=v.rows,
        columns=len(v.schema or []),
        label=v.label,
        schema=[ColumnSchema(**c) for c in (v.schema or [])],
        info=v.info or {},
        created_at=v.created_at,
        created_by=v.created_by,
    )


class DatasetService:
    def __init__(self, db: Database, store: ArtifactStore, tmp_dir: Path, max_upload_bytes: int = 0) -> None:
        self.db = db
        self.store = store
        self.tmp_dir = tmp_dir
        self.max_upload_bytes = max_upload_bytes

    # -- writing -----------------------------------------------------------------------------

    def spool(self, src: BinaryIO) -> tuple[Path, int, str]:
        """Copy an upload stream to a private temp file; return (path, size, sha256)."""
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", dir=self.tmp_dir)
        path = Path(name)
        try:
            with open(fd, "wb") as out:
                size, sha = copy_hashing(src, out)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.check_size(size)
        return path, size, sha

    def check_size(self, size: int) -> None:
        if self.max_upload_bytes and size > self.max_upload_bytes:
            raise PayloadTooLarge(
                f"Dataset upload of {size} bytes is over the limit of {self.max_upload_bytes} bytes "
                "(setting 'max_upload_bytes').",
                {"field": "body", "value": size, "expected": f"<= {self.max_upload_bytes}"},
            )

    def push(
        self,
        name: str,
        path: Path,
        *,
        filename: str,
        kind: str = "file",
        format: str | None = None,
        label: str | None = None,
        description: str = "",
        user: str = "",
        size: int | None = None,
        sha256: str | None = None,
    ) -> PushResult:
        """Make ``path`` (a spooled upload: a file, or a folder packed as tar) a dataset version.

        Same bytes, label and format as an existing version of ``name`` returns that version.
        The spooled file is consumed: it is removed whatever happens.
        """
        extracted: Path | None = None
        try:
            check_name(name)
            if kind not in ("file", "folder"):
                raise InvalidArgument(
                    f"Upload kind {kind!r} is not valid. Expected 'file' or 'folder'.", {"field": "kind", "value": kind}
                )
            filename = Path(filename or "data").name or "data"
            if size is None or sha256 is None:
                with open(path, "rb") as f:
                    size, sha256 = copy_hashing(f, _Discard())
            if size == 0:
                raise InvalidArgument(
                    f"The file {filename!r} is empty. Expected a dataset with at least one row or file.",
                    {"field": "body", "value": filename},
                )
            self.check_size(size)
            if format is not None and format not in FORMATS:
                raise InvalidArgument(
                    f"Dataset format {format!r} is not known. Expected one of: {', '.join(FORMATS)}.",
                    {"field": "format", "value": format, "expected": list(FORMATS)},
                )
            target = path
            if kind == "folder":
                extracted = Path(tempfile.mkdtemp(prefix="folder-", dir=self.tmp_dir))
                unpack_folder(path, extracted)
                target = extracted
            fmt = detect_format(target, filename=filename, hint=format)
            if kind == "file" and fmt in FOLDER_FORMATS:
                raise InvalidArgument(
                    f"Format {fmt!r} needs a folder; {filename!r} is a single file.",
                    {"field": "format", "value": fmt},
                )
            existing = self._find_same(name, sha256, fmt, label)
            if existing is not None:
                return PushResult(created=False, version=existing)
            key = f"datasets/{name}/{uuid.uuid4().hex}"
            # Encrypt-and-store and inspection each read the spooled file once, side by side (both spend
            # their time outside the GIL); a file that fails inspection has its stored copy removed.
            with ThreadPoolExecutor(1, thread_name_prefix="dataset-store") as pool:
                stored = pool.submit(self.store.put_file, key, path)
                try:
                    info = inspect(target, fmt, label=label, filename=filename)
                except BaseException:
                    if stored.exception() is None:
                        self.store.delete(key)
                    raise
                stored.result()
            return self._commit(name, key, filename, kind, fmt, info, size, sha256, description, user)
        finally:
            path.unlink(missing_ok=True)
            if extracted is not None:
                shutil.rmtree(extracted, ignore_errors=True)

    def _commit(
        self, name: str, key: str, filename: str, kind: str, fmt: str, info: DatasetInfo, size: int, sha256: str,
        description: str, user: str,
    ) -> PushResult:
        """Record the stored object ``key`` as a new version (its bytes are removed if that fails)."""
        try:
            for attempt in range(3):
                try:
                    return self.db.run(
                        lambda s: self._record(s, name, key, filename, kind, fmt, info, size, sha256, description, user)
                    )
                except IntegrityError:  # a concurrent push created the dataset or took the number
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        except BaseException:
            self.store.delete(key)
            raise

    def push_stream(
        self,
        name: str,
        src: BinaryIO,
        *,
        filename: str,
        kind: str = "file",
        format: str | None = None,
        label: str | None = None,
        description: str = "",
        user: str = "",
    ) -> PushResult:
        """Make the bytes read from ``src`` (an upload as it arrives) a dataset version.

        CSV and JSONL files take one pass: every block is hashed, encrypted and written to the store
        while the inspector reads the same blocks (types from a bounded sample, rows, nulls and
        classes counted as they stream). The sha256 is known at the end, so the same bytes pushed
        again are stored, found equal, and removed again. A file that fails inspection, or an upload
        that breaks off, leaves nothing stored. Folders and other formats (Parquet, npy, npz need
        random access) are spooled to a temp file first, as ``push`` takes them.
        """
        check_name(name)
        if kind not in ("file", "folder"):
            raise InvalidArgument(
                f"Upload kind {kind!r} is not valid. Expected 'file' or 'folder'.", {"field": "kind", "value": kind}
            )
        filename = Path(filename or "data").name or "data"
        if format is not None and format not in FORMATS:
            raise InvalidArgument(
                f"Dataset format {format!r} is not known. Expected one of: {', '.join(FORMATS)}.",
                {"field": "format", "value": format, "expected": list(FORMATS)},
            )
        head = _read_up_to(src, 64 * 1024)
        fmt = sniff_format(head, filename, format) if kind == "file" and head else None
        if fmt not in STREAMABLE:
            return self._push_spooled(name, head, src, filename=filename, kind=kind, format=format, label=label,
                                      description=description, user=user)
        assert fmt is not None
        key = f"datasets/{name}/{uuid.uuid4().hex}"
        branch = BlockPipe(depth=8)
        tee = Tee(_Prefixed(head, src), branch)  # type: ignore[arg-type]
        with ThreadPoolExecutor(1, thread_name_prefix="dataset-store") as pool:
            stored = pool.submit(self.store.put, key, tee)  # type: ignore[arg-type]

            def reopen() -> BinaryIO:  # the exact (second) reader reads the stored copy
                branch.close()
                stored.result()
                return self.store.open(key)

            try:
                try:
                    info = inspect_stream(branch, fmt, label=label, filename=filename, reopen=reopen)
                finally:
                    branch.close()
            except BaseException:
                tee.abort("the dataset failed inspection")
                try:
                    stored.result()
                except BaseException:  # noqa: S110  (the write stopped and removed its bytes)
                    pass
                else:
                    self.store.delete(key)
                raise
            obj = stored.result()
        if obj.size == 0:
            self.store.delete(key)
            raise InvalidArgument(
                f"The file {filename!r} is empty. Expected a dataset with at least one row or file.",
                {"field": "body", "value": filename},
            )
        try:
            self.check_size(obj.size)
            existing = self._find_same(name, obj.sha256, fmt, label)
        except BaseException:
            self.store.delete(key)
            raise
        if existing is not None:
            self.store.delete(key)
            return PushResult(created=False, version=existing)
        return self._commit(name, key, filename, kind, fmt, info, obj.size, obj.sha256, description, user)

    def _push_spooled(self, name: str, head: bytes, src: BinaryIO, **kw: str | None) -> PushResult:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix="upload-", dir=self.tmp_dir)
        path = Path(tmp_name)
        try:
            with open(fd, "wb", buffering=0) as out:
                size, sha = copy_hashing(_Prefixed(head, src), out)  # type: ignore[arg-type]
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return self.push(name, path, size=size, sha256=sha, **kw)  # type: ignore[arg-type]

    def _find_same(self, name: str, sha256: str, fmt: str, label: str | None) -> DatasetVersionView | None:
        with self.db.session() as s:
            row = s.execute(
                select(Dataset, DatasetVersion)
                .join(DatasetVersion)
                .where(Dataset.name == name, DatasetVersion.sha256 == sha256, DatasetVersion.format == fmt)
                .where(DatasetVersion.label.is_(None) if label is None else DatasetVersion.label == label)
                .order_by(DatasetVersion.version)
            ).first()
            return version_view(*row) if row else None

    def _record(
        self,
        s: Session,
        name: str,
        key: str,
        filename: str,
        kind: str,
        fmt: str,
        info: DatasetInfo,
        size: int,
        sha256: str,
        description: str,
        user: str,
    ) -> PushResult:
        ds = s.execute(select(Dataset).where(Dataset.name == name).with_for_update()).scalar_one_or_none()
        if ds is None:
            ds = Dataset(name=name, description=description, version_counter=0, created_by=user)
            s.add(ds)
            s.flush()
        same = s.execute(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == ds.id,
                DatasetVersion.sha256 == sha256,
                DatasetVersion.format == fmt,
                DatasetVersion.label.is_(None) if info.label is None else DatasetVersion.label == info.label,
            )
        ).scalar_one_or_none()
        if same is not None:
            self.store.delete(key)
            return PushResult(created=False, version=version_view(ds, same))
        ds.version_counter += 1
        if description:
            ds.description = description
        v = DatasetVersion(
            dataset_id=ds.id,
            version=ds.version_counter,
            format=fmt,
            kind=kind,
            filename=filename,
            size=size,
            sha256=sha256,
            rows=info.rows,
            label=info.label,
            schema=[{"name": c.name, "dtype": c.dtype, "nulls": c.nulls} for c in info.columns],
            info={"classes": info.classes, **(info.extra or {})} if info.classes else dict(info.extra or {}),
            storage_key=key,
            created_by=user,
        )
        s.add(v)
        s.flush()
        view = version_view(ds, v)
        emit(s, "dataset.version_created", name, {"ref": view.ref, "version": v.version})
        return PushResult(created=True, version=view)

    # -- reading -----------------------------------------------------------------------------

    def _dataset(self, s: Session, name: str) -> Dataset:
        ds = s.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
        if ds is None:
            raise NotFound(
                f"Dataset {name!r} not found. Push it first: slipway data push {name} PATH",
                {"field": "name", "value": name},
            )
        return ds

    def _version(self, s: Session, ref: str) -> tuple[Dataset, DatasetVersion]:
        name, number = parse_ref(ref)
        ds = self._dataset(s, name)
        q = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
        if number is None:
            v = s.execute(q.order_by(DatasetVersion.version.desc()).limit(1)).scalar_one_or_none()
        else:
            v = s.execute(q.where(DatasetVersion.version == number)).scalar_one_or_none()
        if v is None:
            known = s.execute(
                select(DatasetVersion.version).where(DatasetVersion.dataset_id == ds.id).order_by(DatasetVersion.version)
            ).scalars().all()
            listed = ", ".join(str(k) for k in known) or "none"
            raise NotFound(
                f"Dataset version {ref!r} not found. Versions of {name!r}: {listed}.",
                {"field": "version", "value": ref, "known_versions": list(known)},
            )
        return ds, v

    def get(self, ref: str) -> DatasetVersionView:
        with self.db.session() as s:
            return version_view(*self._version(s, ref))

    def list(self, limit: int = 50, offset: int = 0) -> Page[DatasetSummary]:
        with self.db.session() as s:
            total = s.scalar(select(func.count(Dataset.id))) or 0
            rows = s.execute(select(Dataset).order_by(Dataset.name).limit(limit).offset(offset)).scalars().all()
            items = []
            for ds in rows:
                latest = s.execute(
                    select(DatasetVersion)
                    .where(DatasetVersion.dataset_id == ds.id)
                    .order_by(DatasetVersion.version.desc())
                    .limit(1)
                ).scalar_one_or_none()
                count = s.scalar(select(func.count(DatasetVersion.id)).where(DatasetVersion.dataset_id == ds.id)) or 0
                items.append(
                    DatasetSummary(
                        name=ds.name,
                        description=ds.description,
                        versions=count,
                        latest=version_view(ds, latest) if latest else None,
                        created_at=ds.created_at,
                        created_by=ds.created_by,
                    )
                )
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[DatasetSummary](items=items, total=total, next_page_token=nxt)

    def list_versions(self, name: str, limit: int = 50, offset: int = 0) -> Page[DatasetVersionView]:
        check_name(name)
        with self.db.session() as s:
            ds = self._dataset(s, name)
            q = select(DatasetVersion).where(DatasetVersion.dataset_id == ds.id)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.execute(q.order_by(DatasetVersion.version.desc()).limit(limit).offset(offset)).scalars().all()
            items = [version_view(ds, v) for v in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[DatasetVersionView](items=items, total=total, next_page_token=nxt)

    def open_content(self, ref: str) -> tuple[DatasetVersionView, Iterator[bytes]]:
        """The version and an iterator over its stored bytes (a tar for folders)."""
        with self.db.session() as s:
            ds, v = self._version(s, ref)
            view, key = version_view(ds, v), v.storage_key
        # blocks of the store's chunk size (no re-joining copy); the route fetches several per thread hop
        return view, self.store.iter_chunks(key, _PULL_BLOCK)

    def open_seekable(self, ref: str) -> BinaryIO:
        """A seekable reader of a version's stored bytes (a tar for folders) that fetches only the ranges read:
        a folder's tar headers and its files' first bytes can be read without the whole folder passing by."""
        key = self.storage_key(ref)
        return io.BufferedReader(_Ranged(self.store, key, self.store.size(key)), 256 << 10)

    def storage_key(self, ref: str) -> str:
        with self.db.session() as s:
            return self._version(s, ref)[1].storage_key

    def count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(Dataset.id))) or 0

    def count_versions(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(DatasetVersion.id))) or 0

    # -- deleting ----------------------------------------------------------------------------

    def references_to(self, s: Session, ref: str) -> list[str]:
        rows = s.execute(
            select(Reference).where(Reference.target_kind == "dataset_version", Reference.target_id == ref)
        ).scalars().all()
        return sorted({f"{r.source_kind} {r.source_id}" for r in rows})

    def delete(self, ref: str, force: bool = False) -> DatasetVersionView:
        """Delete one version (``name:N``); refuse when something uses it, unless forced."""
        name, number = parse_ref(ref)
        if number is None:
            raise InvalidArgument(
                f"Delete needs an explicit version, got {ref!r}. Expected name:N (e.g. {name}:1), "
                f"or use delete_dataset to remove every version.",
                {"field": "ref", "value": ref},
            )

        def _do(s: Session) -> tuple[DatasetVersionView, str]:
            ds, v = self._version(s, ref)
            view = version_view(ds, v)
            users = self.references_to(s, view.ref)
            if users and not force:
                raise Conflict(
                    f"Dataset version {view.ref} is used by {', '.join(users)}. Pass --force to delete it anyway.",
                    {"field": "ref", "value": view.ref, "used_by": users},
                )
            key = v.storage_key
            s.delete(v)
            return view, key

        view, key = self.db.run(_do)
        self.store.delete(key)
        return view

    def delete_dataset(self, name: str, force: bool = False) -> int:
        check_name(name)
        with self.db.session() as s:
            ds = self._dataset(s, name)
            refs = [f"{name}:{v.version}" for v in ds.versions]
        for r in refs:
            self.delete(r, force=force)

        def _drop(s: Session) -> None:
            ds = s.execute(select(Dataset).where(Dataset.name == name)).scalar_one_or_none()
            if ds is not None and not ds.versions:
                s.delete(ds)

        self.db.run(_drop)
        return len(refs)


class _Prefixed:
    """``head`` (already read) and then the rest of ``src``."""

    def __init__(self, head: bytes, src: BinaryIO) -> None:
        self._head, self._src = head, src

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0 or n >= len(self._head):
                head, self._head = self._head, b""
                return head
            part, self._head = self._head[:n], self._head[n:]
            return part
        return self._src.read(n)


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


class _Ranged(io.RawIOBase):
    """A raw, seekable stream over a stored object, each read one ranged read of the store."""

    def __init__(self, store: ArtifactStore, key: str, size: int) -> None:
        super().__init__()
        self.store, self.key, self.size, self.pos = store, key, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = max(0, {0: 0, 1: self.pos, 2: self.size}[whence] + offset)
        return self.pos

    def readinto(self, b: Any) -> int:
        want = min(len(b), self.size - self.pos)
        if want <= 0:
            return 0
        data = self.store.read_range(self.key, self.pos, want)
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)
