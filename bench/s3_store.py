"""Push and pull a generated CSV through a real server on the file store, then on the S3 store.

The S3 side talks to a local S3-compatible server (moto's server mode, the one the tests use) over
HTTP; both sides encrypt at rest as the platform always does. Prints MB/s for each and the ratio
(the goal is the S3 store within 80 % of the file store).

    .venv/bin/python bench/s3_store.py [--size-mb 1024] [--keep] [--direct]

``--direct`` measures the stores alone (put_file / get_file of the same file through the
encrypted file store and the encrypted S3 store), without a server, the CLI or schema inference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.datasets import make_csv, run_cli  # noqa: E402
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server  # noqa: E402
from tests.support.servers import SlipwayServer  # noqa: E402


def push_pull(work: Path, name: str, csv: Path, env: dict[str, str]) -> tuple[float, float]:
    server = SlipwayServer(work / f"home-{name}", env=env).start()
    try:
        push_s, _, _ = run_cli(server, "data", "push", "big", str(csv), "--label", "label")
        pull_s, _, _ = run_cli(server, "data", "pull", "big:1", str(work / f"out-{name}"))
    finally:
        server.stop()
    assert (work / f"out-{name}" / csv.name).stat().st_size == csv.stat().st_size
    return push_s, pull_s


def _cpu(pid: int | None = None) -> float:
    """CPU seconds (user + system) of this process, or of process ``pid`` and its children."""
    import psutil

    procs = [psutil.Process(pid)] if pid else [psutil.Process()]
    if pid:
        procs += procs[0].children(recursive=True)
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def direct(work: Path, csv: Path, s3: S3Server) -> dict[str, tuple[float, float]]:
    """put/get of ``csv`` through each store; also prints the CPU each side spent (Slipway's store in this
    process, the S3 server in its own): the client's CPU per MB is the store's cost, whatever server it talks to."""
    import time

    from slipway.storage.encrypted import EncryptedStore
    from slipway.storage.fsspec_store import FileStore
    from slipway.storage.keyring import KeyRing
    from slipway.storage.s3_store import S3Store

    ring = KeyRing.load("", work / "master.key")
    stores = {"file": EncryptedStore(FileStore(f"file://{work / 'artifacts'}"), ring),
              "s3": EncryptedStore(S3Store("s3://bench/direct", s3.url, "us-east-1", ACCESS_KEY, SECRET_KEY), ring)}
    results = {}
    size = csv.stat().st_size / 1e6
    server_pid = s3.proc.pid if s3.proc is not None else None
    cpu_rows = []
    for name, store in stores.items():
        cpu, srv = _cpu(), _cpu(server_pid)
        start = time.perf_counter()
        store.put_file("big.csv", csv)
        put_s = time.perf_counter() - start
        put_cpu, put_srv = _cpu() - cpu, _cpu(server_pid) - srv
        cpu, srv = _cpu(), _cpu(server_pid)
        start = time.perf_counter()
        store.get_file("big.csv", work / f"direct-{name}.csv")
        get_s = time.perf_counter() - start
        get_cpu, get_srv = _cpu() - cpu, _cpu(server_pid) - srv
        cpu_rows.append((name, put_cpu, put_srv if name == "s3" else 0.0, get_cpu, get_srv if name == "s3" else 0.0))
        assert (work / f"direct-{name}.csv").stat().st_size == csv.stat().st_size
        (work / f"direct-{name}.csv").unlink()
        store.delete("big.csv")
        results[name] = (put_s, get_s)
    print(f"{'store':<6} {'put CPU-s/GB':>13} {'S3 server':>10} {'get CPU-s/GB':>13} {'S3 server':>10}  "
          "(this process: the store; S3 server: moto, its own process)")
    for name, pc, ps, gc, gs in cpu_rows:
        print(f"{name:<6} {pc * 1000 / size:>13.2f} {ps * 1000 / size:>10.2f} {gc * 1000 / size:>13.2f} "
              f"{gs * 1000 / size:>10.2f}")
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    ap.add_argument("--direct", action="store_true", help="the stores alone, without a server")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-s3-"))
    s3 = S3Server(work)
    try:
        csv = work / "big.csv"
        make_csv(csv, args.size_mb)
        size = csv.stat().st_size / 1e6
        s3.start()
        s3.make_bucket("bench")
        results = direct(work, csv, s3) if args.direct else {
            "file": push_pull(work, "file", csv, {}),
            "s3": push_pull(work, "s3", csv, {
                "SLIPWAY_ARTIFACT_URL": "s3://bench/slipway", "SLIPWAY_S3_ENDPOINT_URL": s3.url,
                "SLIPWAY_S3_REGION": "us-east-1", "SLIPWAY_S3_ACCESS_KEY_ID": ACCESS_KEY,
                "SLIPWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY}),
        }
        print(f"{'stores alone' if args.direct else 'through a server'}: {size:.0f} MB CSV  (machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}); "
              f"S3 = moto server at {s3.url}")
        print(f"{'store':<6} {'push s':>8} {'push MB/s':>10} {'pull s':>8} {'pull MB/s':>10}")
        for store, (push_s, pull_s) in results.items():
            print(f"{store:<6} {push_s:>8.1f} {size / push_s:>10.1f} {pull_s:>8.1f} {size / pull_s:>10.1f}")
        (fp, fl), (sp, sl) = results["file"], results["s3"]
        print(f"S3 / file throughput: push {fp / sp:.0%}, pull {fl / sl:.0%}")
    finally:
        s3.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
