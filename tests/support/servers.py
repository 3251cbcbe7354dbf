"""Starts real Slipway server processes for tests, on free loopback ports."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["SlipwayServer"]

REPO = Path(__file__).resolve().parents[2]


class SlipwayServer:
    """`slipway up` in a subprocess on its own home; ``url`` once it answers /healthz."""

    def __init__(self, home: Path, database_url: str | None = None, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None, verify: bool | str = True) -> None:
        self.home = home
        # A CA bundle path for servers started with --tls-cert.
        self.verify = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        self.database_url = database_url
        self.extra_args = extra_args or []
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log_path = home.parent / f"{home.name}-server.log"

    def cli_env(self) -> dict[str, str]:
        """Environment for CLI/SDK calls that should reach this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env.update({"SLIPWAY_HOME": str(self.home), "SLIPWAY_URL": self.url, "COLUMNS": "200"})
        return env

    def start(self, timeout: float = 60.0) -> SlipwayServer:
        self.home.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, "-m", "slipway.cli.main", "--home", str(self.home), "up", "--port", "0",
                "--log-level", "warning", *self.extra_args]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
        env.update(self.env)
        (self.home / "server.json").unlink(missing_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                info = json.loads((self.home / "server.json").read_text())
                if info.get("pid") == self.proc.pid:
                    r = httpx.get(info["url"] + "/healthz", timeout=2, verify=self.verify)
                    if r.status_code == 200:
                        self.url = info["url"]
                        return self
            except (OSError, ValueError, httpx.HTTPError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")

    @property
    def admin_key(self) -> str:
        """The key the first start stored in the home's credentials file."""
        return str(json.loads((self.home / "credentials").read_text())["profiles"]["local"]["api_key"])

    def http(self, api_key: str | None = "admin", **kw: object) -> httpx.Client:
        """A raw HTTP client for this server, authenticated as admin unless ``api_key`` says otherwise
        (another key, or None for no Authorization header)."""
        key = self.admin_key if api_key == "admin" else api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kw.setdefault("verify", self.verify)
        return httpx.Client(base_url=self.url, timeout=60, headers=headers, **kw)  # type: ignore[arg-type]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code = self.proc.returncode
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
