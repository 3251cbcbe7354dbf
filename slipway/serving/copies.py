"""Decrypted serving copies of model versions: private, shared by the replicas of one version, removed unused.

The artifact store may hold models encrypted; a replica needs them as plain files. Those copies live under
``home/serving/models`` in folders only the server's user can read (0700, files 0600), and exist only while
a replica uses them: the last replica's stop removes its copy, as does deleting the model version, and a
server removes at start-up every copy no adopted replica uses (left by a crash).
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections import Counter
from pathlib import Path

from slipway.artifacts import unpack_artifact
from slipway.storage import ArtifactStore

__all__ = ["ModelCopies", "make_private"]


def make_private(folder: Path) -> None:
    """Folders 0700, files 0600, all the way down (links are left alone: artifacts hold none)."""
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for d in dirs:
            if not os.path.islink(os.path.join(root, d)):
                os.chmod(os.path.join(root, d), 0o700)
        for f in files:
            if not os.path.islink(os.path.join(root, f)):
                os.chmod(os.path.join(root, f), 0o600)


class ModelCopies:
    """One folder per model version and artifact sha, counted by the replicas that use it."""

    def __init__(self, folder: Path, store: ArtifactStore) -> None:
        self.folder = folder
        self.store = store
        self._lock = threading.Lock()
        self._users: dict[Path, set[str]] = {}  # copy -> replica ids serving from it
        self._pending: Counter[Path] = Counter()  # handed out by acquire, replica not registered yet

    def _name(self, ref: str, sha256: str) -> str:
        return f"{ref.replace(':', '-')}-{sha256[:16]}"

    def acquire(self, ref: str, key: str, sha256: str) -> Path:
        """The unpacked artifact of ``ref``, fetched through the store once; kept until ``attach``/``abandon``."""
        copy = self.folder / self._name(ref, sha256)
        with self._lock:
            self._pending[copy] += 1
            try:
                if not (copy / ".complete").exists():
                    self._fetch(copy, key, sha256)
            except BaseException:
                self._drop_pending(copy)
                raise
        return copy

    def _fetch(self, copy: Path, key: str, sha256: str) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        work = self.folder / f".{copy.name}.{uuid.uuid4().hex[:8]}"
        work.mkdir(mode=0o700)  # private before the first decrypted byte lands in it
        try:
            tar = work / "model.tar.gz"
            self.store.get_file(key, tar)
            unpack_artifact(tar, work / "artifact")
            tar.unlink()
            (work / "artifact" / ".complete").write_text(sha256)
            make_private(work / "artifact")
            shutil.rmtree(copy, ignore_errors=True)
            (work / "artifact").rename(copy)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _drop_pending(self, copy: Path) -> None:
        self._pending[copy] -= 1
        if self._pending[copy] <= 0:
            del self._pending[copy]
            if not self._users.get(copy):
                self._users.pop(copy, None)
                shutil.rmtree(copy, ignore_errors=True)

    def attach(self, copy: Path, replica_id: str, pending: bool = True) -> None:
        """Replica ``replica_id`` serves from ``copy`` (``pending``: it was handed out by ``acquire``)."""
        with self._lock:
            self._users.setdefault(copy, set()).add(replica_id)
            if pending:
                self._drop_pending(copy)

    def abandon(self, copy: Path) -> None:
        """``acquire`` handed out ``copy`` but no replica came of it."""
        with self._lock:
            self._drop_pending(copy)

    def release(self, copy: Path, replica_id: str) -> None:
        """Replica ``replica_id`` stopped; the copy goes when nothing else uses it."""
        with self._lock:
            users = self._users.get(copy)
            if users is None:
                return
            users.discard(replica_id)
            if not users and not self._pending.get(copy):
                del self._users[copy]
                shutil.rmtree(copy, ignore_errors=True)

    def remove(self, ref: str) -> list[Path]:
        """Remove the copies of model version ``ref`` (it was deleted) that no replica uses; return them."""
        prefix = ref.replace(":", "-") + "-"
        removed = []
        with self._lock:
            for copy in self._entries():
                name = copy.name
                if (name.startswith(prefix) and len(name) == len(prefix) + 16 and copy not in self._users
                        and copy not in self._pending):
                    shutil.rmtree(copy, ignore_errors=True)
                    removed.append(copy)
        return removed

    def remove_unused(self) -> list[Path]:
        """Remove every copy (and half-written fetch) no replica uses: at start-up, what a crash left."""
        removed = []
        with self._lock:
            for entry in self._entries():
                if entry not in self._users and entry not in self._pending:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    removed.append(entry)
        return removed

    def _entries(self) -> list[Path]:
        try:
            return sorted(self.folder.iterdir())
        except FileNotFoundError:
            return []
