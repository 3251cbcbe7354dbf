"""A real S3-compatible server for tests: moto's server mode, in its own process on a loopback port.

moto is the one stand-in the project allows, and for S3 only: it speaks the S3 wire protocol
(multipart uploads, ranged GETs, listing), so the S3 store is tested over HTTP exactly as against
MinIO or Amazon S3. With ``check_credentials`` it refuses every key it has not issued, which is how
the "credentials refused" fault is tested.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.support.waiting import wait_for

__all__ = ["ACCESS_KEY", "SECRET_KEY", "S3Server"]

ACCESS_KEY = "slipway-test"
SECRET_KEY = "slipway-test-secret"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class S3Server:
    def __init__(self, log_dir: Path, check_credentials: bool = False) -> None:
        self.log = log_dir / "moto.log"
        self.check_credentials = check_credentials
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.check_credentials:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "0"  # moto then checks every request's key against IAM
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                         stdout=out, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"moto server died: {self.log.read_text()}"
            try:
                return httpx.get(f"{self.url}/moto-api/", timeout=1).status_code < 500
            except httpx.TransportError:
                return False

        wait_for(up, 60, "the moto S3 server to answer")
        return self.url

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=ACCESS_KEY,
                            aws_secret_access_key=SECRET_KEY, region_name="us-east-1")

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
