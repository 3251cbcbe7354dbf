"""cProfile of the server-side dataset push (service level: inspect + hash + encrypt + store).

    .venv/bin/python bench/datasets_profile.py [--size-mb 50] [--top 15]
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
        start = time.perf_counter()
        prof.enable()
        result = p.datasets.push("big", upload, filename="big.csv", label="label",
                                 size=upload.stat().st_size, sha256=sha)
        prof.disable()
        took = time.perf_counter() - start
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"push of {src.stat().st_size / 1e6:.0f} MB: {took:.2f} s, rows={result.version.rows}, "
              f"peak RSS {peak} MB (before: {before} MB)")
        pstats.Stats(prof).sort_stats("cumulative").print_stats(args.top)
        p.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
