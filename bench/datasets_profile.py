"""cProfile of the server-side dataset push (service level: inspect + hash + encrypt + store).

    .venv/bin/python bench/datasets_profile.py [--size-mb 50] [--top 15] [--spooled]

By default the one-pass push (``push_stream``) is profiled, fed 1 MB blocks through a pipe from a
thread as the route feeds it; ``--spooled`` profiles the older spool-then-push path beside it.
The pull (decrypting read of the stored object) is timed after it.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.datasets import make_csv  # noqa: E402
from slipway.services import Platform  # noqa: E402
from slipway.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=50)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--spooled", action="store_true", help="profile push() of a spooled file instead")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-prof-"))
    try:
        src = work / "big.csv"
        make_csv(src, args.size_mb)
        p = Platform(Settings.load(env={}, home=work / "home", port=8080))
        p.migrate()
        upload = p.settings.tmp_dir / "upload-bench"
        shutil.copyfile(src, upload)
        import hashlib

        import pandas  # noqa: F401  (imports are paid once at server start, not per push)
        import pyarrow.csv  # noqa: F401

        _ = p.datasets
        with open(upload, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()  # the route hashes while spooling
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        prof = cProfile.Profile()
        cpu = time.process_time()
        start = time.perf_counter()
        prof.enable()
        if args.spooled:
            result = p.datasets.push("big", upload, filename="big.csv", label="label",
                                     size=upload.stat().st_size, sha256=sha)
        else:
            import threading

            from slipway.storage.pipe import BlockPipe

            pipe = BlockPipe(depth=8)

            def feed() -> None:
                with open(upload, "rb") as f:
                    while block := f.read(1 << 20):
                        if not pipe.send(block):
                            return
                pipe.finish()

            feeder = threading.Thread(target=feed)
            feeder.start()
            try:
                result = p.datasets.push_stream("big", pipe, filename="big.csv", label="label")
            finally:
                pipe.close()
                feeder.join()
        prof.disable()
        took = time.perf_counter() - start
        cpu = time.process_time() - cpu
        start, pull_cpu = time.perf_counter(), time.process_time()
        pulled = sum(len(b) for b in p.datasets.open_content("big:1")[1])
        pull_s, pull_cpu = time.perf_counter() - start, time.process_time() - pull_cpu
        mb = pulled / 1e6
        print(f"pull (decrypt, 1 MB blocks) of {mb:.0f} MB: {pull_s:.2f} s = {mb / pull_s:.0f} MB/s; "
              f"CPU {pull_cpu:.2f} s = {mb / max(pull_cpu, 1e-9):.0f} MB per CPU-second")
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"push CPU {cpu:.2f} s (all threads) = {src.stat().st_size / 1e6 / cpu:.0f} MB per CPU-second "
              "(on a busy machine, the figure that compares)")
        print(f"push of {src.stat().st_size / 1e6:.0f} MB: {took:.2f} s, rows={result.version.rows}, "
              f"peak RSS {peak} MB (before: {before} MB)")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
        p.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
