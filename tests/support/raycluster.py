"""A real local Ray cluster for tests: `ray start --head` in its own processes, on loopback ports.

One cluster per test process (the `ray_cluster` session fixture); tests that use it are marked
``xdist_group("ray")`` so that, under ``-n 2``, they share one worker and so one cluster. The head
is started with a fixed number of CPUs and no dashboard, in a temporary folder, and stopped by killing
the processes that name that folder (never ``ray stop``, which stops every Ray of the user).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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
        """Stop this cluster's processes only, by pid: those whose command line names its temporary folder, and
        their descendants (Ray's agents rename themselves). ``ray stop`` would stop every Ray of this user on the
        machine, another test process's cluster or a bench's included."""
        if not self.address:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self._pids():
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
            deadline = time.monotonic() + 10
            while self._pids() and time.monotonic() < deadline:
                time.sleep(0.2)
        self.address = ""
        shutil.rmtree(self.root, ignore_errors=True)  # its logs and sockets: a session's worth of megabytes

    def _our_client_server(self, cmdline: bytes) -> bool:
        """Ray's client server names neither the folder nor a parent of ours (it is reparented): its --address
        (node-ip:gcs-port) has this cluster's GCS port."""
        if b"ray.util.client.server" not in cmdline or not self.address:
            return False
        port = (":" + self.address.rsplit(":", 1)[1]).encode()
        return any(a.startswith(b"--address=") and a.endswith(port) for a in cmdline.split(b"\0"))

    def _pids(self) -> list[int]:
        mark = (str(self.root).rstrip("/") + "\0").encode()  # the folder as a whole argument or its end
        named, parent = set(), {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                if mark in cmdline or (str(self.root).rstrip("/") + "/").encode() in cmdline or self._our_client_server(cmdline):
                    named.add(int(entry.name))
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
        found = set(named)
        grew = True
        while grew:
            kids = {pid for pid, ppid in parent.items() if ppid in found} - found
            found |= kids
            grew = bool(kids)
        return sorted(found)
