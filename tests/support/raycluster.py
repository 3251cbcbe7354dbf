"""A real local Ray cluster for tests: `ray start --head` in its own processes, on loopback ports.

One cluster per test process (the `ray_cluster` session fixture); tests that use it are marked
``xdist_group("ray")`` so that, under ``-n 2``, they share one worker and so one cluster. The head
is started with a fixed number of CPUs and no dashboard, in a temporary folder, and its processes (and
only they, not another session's cluster) are killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RayCluster"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RayCluster:
    """``address`` is the GCS address (``127.0.0.1:PORT``) that ``ray.init(address=...)`` takes;
    ``client_url`` the Ray Client address (``ray://127.0.0.1:PORT``)."""

    root: Path
    num_cpus: int = 2
    address: str = ""
    client_url: str = ""

    def _ray(self) -> str:
        exe = Path(sys.executable).with_name("ray")
        return str(exe) if exe.exists() else (shutil.which("ray") or "ray")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env["RAY_USAGE_STATS_ENABLED"] = "0"  # nothing leaves the machine
        env["RAY_enable_metrics_collection"] = "0"
        return env

    def start(self) -> RayCluster:
        gcs, client = _free_port(), _free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = [self._ray(), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={gcs}",
               f"--ray-client-server-port={client}", f"--num-cpus={self.num_cpus}", "--num-gpus=0",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={self.root}"]
        out = subprocess.run(cmd, capture_output=True, text=True, env=self._env(), timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"ray start failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
        self.address = f"127.0.0.1:{gcs}"
        self.client_url = f"ray://127.0.0.1:{client}"
        return self

    def stop(self) -> None:
        if not self.address:
            return
        # Not `ray stop`: it stops every Ray process of this user on the machine, other test sessions' clusters
        # too. Ours name our temp folder or our GCS port on their command line; the workers are their children.
        port = self.address.rsplit(":", 1)[1]
        procs: dict[int, tuple[int, bytes]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmd = (entry / "cmdline").read_bytes()
                    ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                procs[int(entry.name)] = (ppid, cmd)
        root, gcs = str(self.root).encode(), f":{port}".encode()

        def ours(cmd: bytes) -> bool:
            args = cmd.split(b"\0")
            return root in cmd or any(a.startswith(b"--address=") and a.endswith(gcs) for a in args)

        mine = {pid for pid, (_, cmd) in procs.items() if ours(cmd)}
        grew = True
        while grew:
            more = {pid for pid, (ppid, _) in procs.items() if ppid in mine and pid not in mine}
            mine |= more
            grew = bool(more)
        mine.discard(os.getpid())
        for pid in mine:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.address = ""
