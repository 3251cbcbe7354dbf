"""Push and pull a generated CSV (default ~1 GB) through a real server; print MB/s and peak RSS.
Then a folder of many small files (default 10,000): files/s. MLflow's artifact proxy beside it when a
peer venv with mlflow is named in SLIPWAY_BENCH_PEERS (see bench/peers.py); skipped with a line if not.

    .venv/bin/python bench/datasets.py [--size-mb 1024] [--files 10000] [--keep]
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


def server_cpu(server: SlipwayServer) -> float:
    """User + system CPU seconds of the server process (threads included, children not)."""
    t = psutil.Process(server.proc.pid).cpu_times()  # type: ignore[union-attr]
    return float(t.user + t.system)


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


def make_folder(root: Path, count: int) -> Path:
    """``count`` small files (about 1 KB each) in 100 subfolders."""
    for i in range(count):
        sub = root / f"d{i % 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(512) + b"%d" % i * 64)
    return root


def peer_line(csv: Path, work: Path) -> None:
    """MLflow's artifact proxy (`mlflow server --serve-artifacts`): PUT and GET of the same CSV."""
    venvs = [Path(v) for v in os.environ.get("SLIPWAY_BENCH_PEERS", "").split(os.pathsep) if v]
    mlflow = next((v / "bin" / "mlflow" for v in venvs if (v / "bin" / "mlflow").exists()), None)
    if mlflow is None:
        print("MLflow artifact proxy: skipped (no peer venv with mlflow in SLIPWAY_BENCH_PEERS)")
        return
    import httpx

    from bench.peers import PeerProcess, _free_port

    port = _free_port()
    proc = PeerProcess([str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--serve-artifacts",
                             "--artifacts-destination", str(work / "mlflow-artifacts"),
                             "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/bench/{csv.name}"
    try:
        with httpx.Client(timeout=600) as http:
            for _ in range(600):
                try:
                    http.get(f"http://127.0.0.1:{port}/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            size = csv.stat().st_size / 1e6
            start = time.perf_counter()
            with open(csv, "rb") as f:
                http.put(url, content=iter(lambda: f.read(1 << 20), b"")).raise_for_status()
            up = time.perf_counter() - start
            start = time.perf_counter()
            got = 0
            with http.stream("GET", url) as r:
                r.raise_for_status()
                for block in r.iter_raw():
                    got += len(block)
            down = time.perf_counter() - start
        print(f"MLflow artifact proxy: upload {size / up:.1f} MB/s, download {got / 1e6 / down:.1f} MB/s")
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--files", type=int, default=10_000, help="small files in the folder run (0: skip it)")
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
            cpu = [server_cpu(server)]
            push_s, push_cli = run_cli(server, "data", "push", "big", str(csv), "--label", "label")
            cpu.append(server_cpu(server))
            server_peak, push_own = srv_rss.stop(), srv_rss.own_peak
            srv_rss = PeakRss(server.proc.pid)  # type: ignore[union-attr]
            pull_s, pull_cli = run_cli(server, "data", "pull", "big:1", str(work / "out"))
            cpu.append(server_cpu(server))
            server_peak = max(server_peak, srv_rss.stop())
            pull_own = srv_rss.own_peak
            srv_rss.own_peak = max(push_own, pull_own)
            if args.files:
                folder = make_folder(work / "many", args.files)
                fpush_s, _ = run_cli(server, "data", "push", "many", str(folder), "--format", "files")
                fpull_s, _ = run_cli(server, "data", "pull", "many:1", str(work / "many-out"))
        finally:
            server.stop()
        assert (work / "out" / "big.csv").stat().st_size == csv.stat().st_size
        mb = 1024 * 1024
        print(f"file: {size:.0f} MB CSV, 21 columns  (machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f})")
        print(f"{'step':<6} {'seconds':>8} {'MB/s':>8} {'CLI peak RSS':>14} {'server CPU s':>13} {'MB/server-CPU-s':>16}")
        for step, secs, peak, used in (("push", push_s, push_cli, cpu[1] - cpu[0]), ("pull", pull_s, pull_cli, cpu[2] - cpu[1])):
            print(f"{step:<6} {secs:>8.1f} {size / secs:>8.1f} {peak / mb:>11.0f} MB {used:>13.2f} {size / used:>16.0f}")
        print("(on a busy machine the wall-clock MB/s follow the load; server CPU-seconds per MB compare across runs)")
        print(f"server peak RSS: {server_peak / mb:.0f} MB with children, {srv_rss.own_peak / mb:.0f} MB the server "
              f"process alone (idle before push: {base / mb:.0f} MB; during the push {push_own / mb:.0f} MB, "
              f"during the pull {pull_own / mb:.0f} MB)")
        if args.files:
            pulled = sum(1 for p in (work / "many-out").rglob("*") if p.is_file())
            assert pulled == args.files, f"pulled {pulled} of {args.files} files"
            print(f"folder of {args.files} small files: push {fpush_s:.1f} s = {args.files / fpush_s:.0f} files/s, "
                  f"pull {fpull_s:.1f} s = {args.files / fpull_s:.0f} files/s")
        peer_line(csv, work)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
