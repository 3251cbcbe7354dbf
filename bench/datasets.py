"""Push and pull a generated CSV (default ~1 GB) through a real server; print MB/s and peak RSS.

    .venv/bin/python bench/datasets.py [--size-mb 1024] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.servers import SlipwayServer  # noqa: E402


def make_csv(path: Path, size_mb: int) -> None:
    row = ",".join(f"{i * 1.2345:.4f}" for i in range(20)) + ",label_{}\n"
    header = ",".join(f"f{i}" for i in range(20)) + ",label\n"
    target = size_mb * 1024 * 1024
    block = "".join(row.format(i % 7) for i in range(10000)).encode()
    with open(path, "wb") as f:
        f.write(header.encode())
        written = 0
        while written < target:
            f.write(block)
            written += len(block)


class PeakRss:
    """Samples the resident memory of a process and its children every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.own_peak = 0  # the process alone, without its children (a server's standby replica)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                own = self.proc.memory_info().rss
                rss = own + sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.peak = max(self.peak, rss)
                self.own_peak = max(self.own_peak, own)
            except psutil.Error:
                pass
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.peak


def run_cli(server: SlipwayServer, *args: str) -> tuple[float, int]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "slipway.cli.main", *args], env=server.cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss = PeakRss(proc.pid)
    _, err = proc.communicate()
    peak = rss.stop()
    if proc.returncode:
        raise SystemExit(f"slipway {' '.join(args)} failed: {err.decode()}")
    return time.perf_counter() - start, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slipway-bench-"))
    try:
        csv = work / "big.csv"
        make_csv(csv, args.size_mb)
        size = csv.stat().st_size / 1e6
        server = SlipwayServer(work / "home").start()
        try:
            srv_rss = PeakRss(server.proc.pid)  # type: ignore[union-attr]
            base = psutil.Process(server.proc.pid).memory_info().rss  # type: ignore[union-attr]
            push_s, push_cli = run_cli(server, "data", "push", "big", str(csv), "--label", "label")
            pull_s, pull_cli = run_cli(server, "data", "pull", "big:1", str(work / "out"))
            server_peak = srv_rss.stop()
        finally:
            server.stop()
        assert (work / "out" / "big.csv").stat().st_size == csv.stat().st_size
        mb = 1024 * 1024
        print(f"file: {size:.0f} MB CSV, 21 columns  (machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
        print(f"{'step':<6} {'seconds':>8} {'MB/s':>8} {'CLI peak RSS':>14}")
        print(f"{'push':<6} {push_s:>8.1f} {size / push_s:>8.1f} {push_cli / mb:>11.0f} MB")
        print(f"{'pull':<6} {pull_s:>8.1f} {size / pull_s:>8.1f} {pull_cli / mb:>11.0f} MB")
        print(f"server peak RSS: {server_peak / mb:.0f} MB with children, {srv_rss.own_peak / mb:.0f} MB the server "
              f"process alone (idle before push: {base / mb:.0f} MB)")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
