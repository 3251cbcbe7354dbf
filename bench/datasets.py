"""Push and pull a generated CSV (default ~1 GB) through a real server; print MB/s, CPU-seconds per GB of
the server and of the client (the CLI process), and peak RSS. Then a folder of many small files (default
10,000): files/s. MLflow's artifact proxy beside it when a peer venv with mlflow is named in
SLIPWAY_BENCH_PEERS (see bench/peers.py): `mlflow server --serve-artifacts`, uploaded with
`mlflow.log_artifact` and downloaded with `mlflow.artifacts.download_artifacts` by the peer venv's python;
skipped with a line if not.

    .venv/bin/python bench/datasets.py [--size-mb 1024] [--files 10000] [--keep]

On a shared machine the wall-clock MB/s follow the load; CPU-seconds per GB compare across runs.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
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


def children_cpu(user_only: bool = False) -> float:
    """User + system (or user only) CPU seconds of this process's finished (waited-for) children."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime if user_only else r.ru_utime + r.ru_stime


LAST_USER_CPU = [0.0]  # the user-mode part of the last run_cli's CPU (the rest is the kernel's: socket, files)


def run_cli(server: SlipwayServer, *args: str) -> tuple[float, int, float]:
    """Run `slipway ARGS`; (seconds, peak RSS, CPU seconds of the CLI process)."""
    cpu, user = children_cpu(), children_cpu(user_only=True)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "slipway.cli.main", *args], env=server.cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rss = PeakRss(proc.pid)
    _, err = proc.communicate()
    peak = rss.stop()
    if proc.returncode:
        raise SystemExit(f"slipway {' '.join(args)} failed: {err.decode()}")
    LAST_USER_CPU[0] = children_cpu(user_only=True) - user
    return time.perf_counter() - start, peak, children_cpu() - cpu


def write_ceiling(folder: Path, size: int) -> tuple[float, float]:
    """Seconds and CPU seconds (this process: mostly the kernel's) to write ``size`` new bytes to a new file in
    ``folder`` with plain 4 MB os.write calls and fsync-free close: the filesystem's own speed through the page
    cache, what the server's store does with a push's encrypted copy. No Slipway code involved."""
    block = memoryview(os.urandom(4 << 20))
    path = folder / "ceiling.bin"
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        left = size
        while left > 0:
            left -= os.write(fd, block[: min(left, len(block))])
    finally:
        os.close(fd)
    secs = time.perf_counter() - start
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    path.unlink()
    return secs, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)


def make_folder(root: Path, count: int) -> Path:
    """``count`` small files (about 1 KB each) in 100 subfolders."""
    for i in range(count):
        sub = root / f"d{i % 100:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(os.urandom(512) + b"%d" % i * 64)
    return root


MLFLOW_CLIENT = """
import json, sys, time, mlflow
url, csv, out = sys.argv[1:4]
mlflow.set_tracking_uri(url)
with mlflow.start_run() as run:
    start = time.perf_counter()
    mlflow.log_artifact(csv)
    up = time.perf_counter() - start
start = time.perf_counter()
got = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path=csv.rsplit("/", 1)[-1], dst_path=out)
down = time.perf_counter() - start
print(json.dumps({"up": up, "down": down, "path": got}))
"""


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its living children (MLflow's server runs its workers as children)."""
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def peer_rows(csv: Path, work: Path) -> list[tuple[str, float, float, float]]:
    """MLflow's artifact proxy (`mlflow server --serve-artifacts`): log_artifact and download_artifacts of the
    same CSV with MLflow's own client; rows of (step, seconds, client CPU s, server CPU s)."""
    venvs = [Path(v) for v in os.environ.get("SLIPWAY_BENCH_PEERS", "").split(os.pathsep) if v]
    venv = next((v for v in venvs if (v / "bin" / "mlflow").exists()), None)
    if venv is None:
        print("MLflow artifact proxy: skipped (no peer venv with mlflow in SLIPWAY_BENCH_PEERS)")
        return []
    import httpx

    from bench.peers import PeerProcess, _free_port

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = PeerProcess([str(venv / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
                        "--serve-artifacts", "--artifacts-destination", str(work / "mlflow-artifacts"),
                        "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        server_cpu0, client_cpu0 = tree_cpu(proc.pid), children_cpu()
        done = subprocess.run([str(venv / "bin" / "python"), "-c", MLFLOW_CLIENT, url, str(csv), str(work / "mlflow-out")],
                              capture_output=True, text=True, env={**os.environ, "MLFLOW_TRACKING_URI": url})
        if done.returncode:
            print(f"MLflow artifact proxy: failed: {done.stderr[-800:]}")
            return []
        client_cpu, server_cpu_used = children_cpu() - client_cpu0, tree_cpu(proc.pid) - server_cpu0
        res = json.loads(done.stdout.strip().splitlines()[-1])
        assert Path(res["path"]).stat().st_size == csv.stat().st_size
        # one client process did both steps: its CPU is split by their durations (a line below says so)
        share = res["up"] / (res["up"] + res["down"])
        return [("MLflow log_artifact", res["up"], client_cpu * share, server_cpu_used * share),
                ("MLflow download_artifacts", res["down"], client_cpu * (1 - share), server_cpu_used * (1 - share))]
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
        ceiling_s, ceiling_cpu = write_ceiling(work, csv.stat().st_size)
        server = SlipwayServer(work / "home").start()
        try:
            srv_rss = PeakRss(server.proc.pid)  # type: ignore[union-attr]
            base = psutil.Process(server.proc.pid).memory_info().rss  # type: ignore[union-attr]
            cpu = [server_cpu(server)]
            push_s, push_cli, push_ccpu = run_cli(server, "data", "push", "big", str(csv), "--label", "label")
            push_user = LAST_USER_CPU[0]
            cpu.append(server_cpu(server))
            server_peak, push_own = srv_rss.stop(), srv_rss.own_peak
            srv_rss = PeakRss(server.proc.pid)  # type: ignore[union-attr]
            pull_s, pull_cli, pull_ccpu = run_cli(server, "data", "pull", "big:1", str(work / "out"))
            pull_user = LAST_USER_CPU[0]
            cpu.append(server_cpu(server))
            server_peak = max(server_peak, srv_rss.stop())
            pull_own = srv_rss.own_peak
            srv_rss.own_peak = max(push_own, pull_own)
            _, _, idle_ccpu = run_cli(server, "data", "list")  # the CLI's start-up and one request
            if args.files:
                folder = make_folder(work / "many", args.files)
                cpu.append(server_cpu(server))
                fpush_s, _, fpush_ccpu = run_cli(server, "data", "push", "many", str(folder), "--format", "files")
                fpush_user = LAST_USER_CPU[0]
                cpu.append(server_cpu(server))
                fpull_s, _, fpull_ccpu = run_cli(server, "data", "pull", "many:1", str(work / "many-out"))
                fpull_user = LAST_USER_CPU[0]
                cpu.append(server_cpu(server))
        finally:
            server.stop()
        assert filecmp.cmp(work / "out" / "big.csv", csv, shallow=False), "pulled bytes differ from pushed"
        mb, gb = 1024 * 1024, size / 1000
        print(f"file: {size:.0f} MB CSV, 21 columns, label column 'label'  (machine: {os.cpu_count()} cores, "
              f"load {os.getloadavg()[0]:.2f})")
        rows = [("slipway push", push_s, push_ccpu, push_user, cpu[1] - cpu[0], push_cli),
                ("slipway pull", pull_s, pull_ccpu, pull_user, cpu[2] - cpu[1], pull_cli)]
        rows += [(*r[:3], -1, r[3], 0) for r in peer_rows(csv, work)]
        print(f"{'step':<26} {'seconds':>8} {'MB/s':>8} {'client CPU-s/GB':>16} {'(user part)':>12} "
              f"{'server CPU-s/GB':>16} {'CLI peak RSS':>13}")
        for step, secs, ccpu, cuser, scpu, peak in rows:
            rss = f"{peak / mb:>10.0f} MB" if peak else f"{'':>13}"
            user = f"{cuser / gb:>12.2f}" if cuser >= 0 else f"{'':>12}"
            print(f"{step:<26} {secs:>8.1f} {size / secs:>8.1f} {ccpu / gb:>16.2f} {user} {scpu / gb:>16.2f} {rss}")
        print(f"(client CPU includes the CLI's start-up: {idle_ccpu:.2f} CPU-s for `slipway data list`; the rest of "
              "it beside the user part is the kernel's: socket and file writes. MLflow's client did both steps in "
              "one process, its CPU split by their durations)")
        print(f"the filesystem's page cache (the same bytes written to a new file there with os.write, no Slipway): "
              f"{size / ceiling_s:.0f} MB/s, {ceiling_cpu / gb:.2f} CPU-s/GB: the server's store writes a push's "
              "encrypted copy that way; the CLI writes a big pull with O_DIRECT instead")
        print(f"server peak RSS: {server_peak / mb:.0f} MB with children, {srv_rss.own_peak / mb:.0f} MB the server "
              f"process alone (idle before push: {base / mb:.0f} MB; during the push {push_own / mb:.0f} MB, "
              f"during the pull {pull_own / mb:.0f} MB)")
        if args.files:
            pulled = sorted(p.relative_to(work / "many-out") for p in (work / "many-out").rglob("*") if p.is_file())
            assert len(pulled) == args.files, f"pulled {len(pulled)} of {args.files} files"
            print(f"folder of {args.files} small files: push {fpush_s:.1f} s = {args.files / fpush_s:.0f} files/s "
                  f"(CPU-s client {fpush_ccpu:.2f}, {fpush_user:.2f} of it user, server {cpu[4] - cpu[3]:.2f}), pull "
                  f"{fpull_s:.1f} s = {args.files / fpull_s:.0f} files/s (CPU-s client {fpull_ccpu:.2f}, "
                  f"{fpull_user:.2f} of it user, server {cpu[5] - cpu[4]:.2f})")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
