"""Model artifacts on the wire: a deterministic tar.gz of the folder, and a safe unpack."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

from slipway.errors import InvalidArgument

__all__ = ["is_tar", "pack_artifact", "unpack_artifact"]


def pack_artifact(folder: Path, dest: Path) -> None:
    """A deterministic tar.gz of ``folder`` (sorted names, zero times and owners): same files, same bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for p in files:
                    info = tarfile.TarInfo(p.relative_to(folder).as_posix())
                    info.size = p.stat().st_size
                    info.mode = 0o644
                    info.mtime = 0
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def unpack_artifact(tar_path: Path, dest: Path) -> None:
    """Extract a model.tar.gz (regular files and folders only; nothing may land outside ``dest``)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                name = m.name.lstrip("./") if m.name.startswith("./") else m.name
                if m.issym() or m.islnk() or not (m.isfile() or m.isdir()):
                    raise InvalidArgument(
                        f"The archive entry {m.name!r} is a link or a special file. Expected only files and folders.",
                        {"field": "artifact", "value": m.name},
                    )
                if name.startswith("/") or ".." in Path(name).parts:
                    raise InvalidArgument(
                        f"The archive entry {m.name!r} points outside the artifact. Expected relative paths.",
                        {"field": "artifact", "value": m.name},
                    )
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InvalidArgument(
            f"The artifact is not a readable tar.gz ({exc}). Expected a model.tar.gz, a model folder or a .joblib file.",
            {"field": "artifact"},
        ) from None


def is_tar(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        if head == b"\x1f\x8b":
            return True
        return tarfile.is_tarfile(path)
    except OSError:
        return False
