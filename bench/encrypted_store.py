"""CPU cost of the encrypted file store alone: put (hash, seal, write) and a decrypting read, per GB.

The source hands out blocks of 1.3 MB the way the dataset route's pipe does (a read asking for at least
a block's size gets the whole block). The code measured is the ``slipway`` found first on the path, so
two checkouts compare by running the same script with each one's folder in PYTHONPATH:

    PYTHONPATH=/path/to/checkout .venv/bin/python bench/encrypted_store.py [--size-mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from slipway.storage.encrypted import EncryptedStore
from slipway.storage.fsspec_store import FileStore
from slipway.storage.keyring import KeyRing


class Blocks:
    """``count`` copies of ``block``, read like BlockPipe: at most one block per read, whole when it fits."""

    def __init__(self, block: bytes, count: int) -> None:
        self._block, self._left, self._buf, self._pos = block, count, b"", 0

    def read(self, n: int = -1) -> bytes:
        if self._pos >= len(self._buf):
            if not self._left:
                return b""
            self._left -= 1
            self._buf, self._pos = self._block, 0
        part = self._buf if self._pos == 0 and n >= len(self._buf) else self._buf[self._pos:self._pos + n]
        self._pos += len(part)
        return part


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-store-bench-"))
    try:
        store = EncryptedStore(FileStore(f"file://{work / 'artifacts'}"), KeyRing.load("", work / "master.key"))
        block = os.urandom(1_300_000)
        count = args.size_mb * 1_000_000 // len(block)
        put, read = [], []
        for i in range(args.repeat):
            cpu = time.process_time()
            info = store.put(f"obj{i}", Blocks(block, count))  # type: ignore[arg-type]
            put.append(time.process_time() - cpu)
            cpu = time.process_time()
            got = sum(len(b) for b in store.iter_chunks(f"obj{i}", 1 << 20))
            read.append(time.process_time() - cpu)
            assert got == info.size
            store.delete(f"obj{i}")
        gb = info.size / 1e9
        print(f"{info.size / 1e6:.0f} MB, best of {args.repeat} (load {os.getloadavg()[0]:.1f}): "
              f"put {min(put) / gb:.2f} CPU-s/GB, decrypting read {min(read) / gb:.2f} CPU-s/GB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
