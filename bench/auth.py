"""Benchmark: cost of access control per request, and encryption-at-rest throughput. Prints figures.

    .venv/bin/python bench/auth.py [--requests 2000] [--mb 256]

1. Per-request overhead: the same in-process app (httpx over ASGI, no sockets) serving
   GET /api/v1/status with authentication + policy evaluation, and with the authorizer removed.
   Also the authenticate+authorize call alone, cached (the normal case) and uncached (a DB lookup).
2. Throughput of the artifact store writing and reading N MB, plain FileStore vs EncryptedStore.
3. Wrong keys: the cost of refusing one (401, then 429 once its source is throttled), a valid key
   from that throttled source (still verified), and the job-log redactor's throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from slipway.api import create_app
from slipway.services import Platform
from slipway.settings import Settings
from slipway.storage.encrypted import EncryptedStore
from slipway.storage.fsspec_store import FileStore


async def _timed_gets(app: object, headers: dict[str, str], n: int) -> list[float]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as http:
        for _ in range(50):  # warm up
            (await http.get("/api/v1/status")).raise_for_status()
        out = []
        for _ in range(n):
            t = time.perf_counter()
            r = await http.get("/api/v1/status")
            out.append(time.perf_counter() - t)
            r.raise_for_status()
        return out


def bench_requests(home: Path, n: int) -> None:
    platform = Platform(Settings.load(env={}, home=home))
    platform.migrate()
    key = platform.auth.bootstrap()
    assert key is not None
    with_auth = create_app(platform)
    open_platform = Platform(Settings.load(env={}, home=home), db=platform.db, store=platform.store)
    open_platform.authorize_request = None  # type: ignore[assignment,method-assign]
    without_auth = create_app(open_platform)

    rounds = {"with auth": [], "without auth": []}  # type: dict[str, list[float]]
    for _ in range(6):  # interleave to share the noise of a busy machine
        rounds["without auth"] += asyncio.run(_timed_gets(without_auth, {}, n // 6))
        rounds["with auth"] += asyncio.run(_timed_gets(with_auth, {"Authorization": f"Bearer {key.key}"}, n // 6))
    print(f"GET /api/v1/status, in-process, {len(rounds['with auth'])} requests each")
    med = {}
    for name, xs in rounds.items():
        med[name] = statistics.median(xs)
        print(f"  {name:13s} median {med[name] * 1e6:8.0f} us   p90 {statistics.quantiles(xs, n=10)[-1] * 1e6:8.0f} us")
    print(f"  overhead of authentication + authorization: {(med['with auth'] - med['without auth']) * 1e6:.0f} us "
          "per request (median difference)")

    header = f"Bearer {key.key}"
    auth = platform.auth
    m = 20000
    t = time.perf_counter()
    for _ in range(m):
        auth.authorize(auth.authenticate(header, "127.0.0.1"), "datasets:Get", "dataset/cancer")
    cached = (time.perf_counter() - t) / m
    m2 = 500
    t = time.perf_counter()
    for _ in range(m2):
        auth._changed()  # drop the cache: every call looks the key up in the database
        auth.authorize(auth.authenticate(header, "127.0.0.1"), "datasets:Get", "dataset/cancer")
    uncached = (time.perf_counter() - t) / m2
    print(f"  authenticate + authorize alone: {cached * 1e6:.1f} us cached, {uncached * 1e6:.0f} us uncached "
          "(SQLite lookup of key, user and role)")
    platform.close()


def bench_wrong_keys_and_redaction(home: Path) -> None:
    from slipway.errors import TooManyRequests, Unauthorized
    from slipway.training.runner import Redactor

    platform = Platform(Settings.load(env={}, home=home))
    platform.migrate()
    key = platform.auth.bootstrap()
    assert key is not None
    auth = platform.auth
    m = 500
    kinds = (("distinct wrong keys", lambda i: f"{i:043d}"), ("one wrong key, repeated", lambda i: "x" * 43))
    for kind, secret in kinds:
        codes = {"401": 0, "429": 0}
        t = time.perf_counter()
        for i in range(m):
            try:
                auth.authenticate(f"Bearer swk_{key.key_id}_{secret(i)}", f"10.0.0.{len(kind)}")
            except Unauthorized:
                codes["401"] += 1
            except TooManyRequests:
                codes["429"] += 1
        per_wrong = (time.perf_counter() - t) / m
        print(f"{kind} from one source, {m} attempts ({codes['401']} x 401, {codes['429']} x 429): "
              f"{per_wrong * 1e6:.0f} us each")
    print("  (each new wrong key is looked up like a right one, since a right key is never throttled; a wrong "
          "key seen in the last 5 s is refused from memory)")
    header = f"Bearer {key.key}"
    m = 300
    t = time.perf_counter()
    for _ in range(m):
        auth._changed()  # uncached: verified in the database although its source is throttled
        auth.authenticate(header, "10.0.0.1")
    print(f"  a valid key from that throttled source, uncached: {(time.perf_counter() - t) / m * 1e6:.0f} us "
          "(accepted every time)")
    platform.close()

    line = b"epoch 12 step 3400 loss 0.12345 accuracy 0.98765 lr 0.001 grad-norm 1.2345\n"
    data = line * (64 * 1024 * 1024 // len(line))
    sink = io.BytesIO()
    redactor = Redactor(["hunter2-a-secret-value", "another-s3cret", "sk_live_0123456789abcdef"], sink)
    t = time.perf_counter()
    for i in range(0, len(data), 65536):
        redactor.feed(data[i:i + 65536])
    redactor.close()
    elapsed = time.perf_counter() - t
    assert sink.getvalue() == data
    print(f"  job-log redactor, 3 secrets, {len(data) / 1e6:.0f} MB of log in 64 KiB reads: "
          f"{len(data) / 1e6 / elapsed:.0f} MB/s")


def _throughput(store: object, key: str, data: bytes) -> tuple[float, float]:
    t = time.perf_counter()
    store.put(key, io.BytesIO(data))  # type: ignore[attr-defined]
    put = time.perf_counter() - t
    t = time.perf_counter()
    total = 0
    with store.open(key) as f:  # type: ignore[attr-defined]
        while block := f.read(1024 * 1024):
            total += len(block)
    get = time.perf_counter() - t
    assert total == len(data)
    mb = len(data) / 1e6
    return mb / put, mb / get


def bench_encryption(home: Path, mb: int) -> None:
    data = os.urandom(mb * 1024 * 1024)
    plain = FileStore(f"file://{home / 'plain'}")
    platform = Platform(Settings.load(env={}, home=home / "enc"))
    encrypted = platform.store
    assert isinstance(encrypted, EncryptedStore)
    print(f"Artifact store, {mb} MiB object, file:// on local disk (MB/s, 1 MB = 10^6 bytes)")
    for name, store in (("plain FileStore", plain), ("EncryptedStore", encrypted)):
        results = [_throughput(store, f"bench/{i}", data) for i in range(2)]
        put = max(r[0] for r in results)
        get = max(r[1] for r in results)
        print(f"  {name:16s} write {put:8.0f} MB/s   read {get:8.0f} MB/s")
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    chunk = data[: 1024 * 1024]
    t = time.perf_counter()
    for i in range(mb):
        aead.encrypt(i.to_bytes(12, "big"), chunk, None)
    print(f"  AES-256-GCM alone (1 MiB chunks, in memory): {mb * 1.048576 / (time.perf_counter() - t):.0f} MB/s")
    platform.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--mb", type=int, default=256)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    try:
        bench_requests(work / "req", args.requests)
        print()
        bench_encryption(work / "enc", args.mb)
        print()
        bench_wrong_keys_and_redaction(work / "wrong")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
