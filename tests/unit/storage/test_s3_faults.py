"""Faults of the S3 store at start: each names the URL (never the secret) and what to check."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.errors import NotFound, Unauthorized, Unavailable
from slipway.settings import Settings
from slipway.storage import open_store
from tests.support.s3server import ACCESS_KEY, SECRET_KEY, S3Server


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once the socket closes


def _settings(tmp_path: Path, url: str, endpoint: str, secret: str = SECRET_KEY) -> Settings:
    return Settings.load(env={}, home=tmp_path / "home", artifact_url=url, s3_endpoint_url=endpoint,
                         s3_region="us-east-1", s3_access_key_id=ACCESS_KEY, s3_secret_access_key=secret)


def test_settings_reach_the_store(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/p", _settings(tmp_path, f"s3://{s3_bucket}/p", s3_server.url))
    store.put_bytes("k", b"v")
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="p/k")["Body"].read() == b"v"
    assert store.describe() == f"s3: s3://{s3_bucket}/p at {s3_server.url}"


def test_unreachable_service_names_endpoint_and_setting(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(Unavailable) as err:
        open_store("s3://data/art", _settings(tmp_path, "s3://data/art", endpoint))
    message = str(err.value)
    assert f"Cannot reach the S3 service at {endpoint}" in message and "s3://data/art" in message
    assert "s3_endpoint_url" in message and SECRET_KEY not in message


def test_missing_bucket_says_create_it(tmp_path: Path, s3_server: S3Server) -> None:
    with pytest.raises(NotFound, match="The S3 bucket 'no-such-bucket' does not exist .* Create it"):
        open_store("s3://no-such-bucket", _settings(tmp_path, "s3://no-such-bucket", s3_server.url))


@pytest.fixture(scope="module")
def strict_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3-strict"), check_credentials=True)
    server.start()
    yield server
    server.stop()


def test_refused_credentials(tmp_path: Path, strict_s3: S3Server) -> None:
    with pytest.raises(Unauthorized) as err:
        open_store("s3://any", _settings(tmp_path, "s3://any", strict_s3.url, secret="wrong-secret"))
    message = str(err.value)
    assert "refused the credentials" in message and "s3_access_key_id" in message
    assert "wrong-secret" not in message


def test_bad_url(tmp_path: Path) -> None:
    from slipway.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="Expected s3://BUCKET"):
        open_store("s3://", _settings(tmp_path, "s3://", "http://127.0.0.1:1"))


def test_up_with_unreachable_s3_fails_clearly(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("SLIPWAY_", "AWS_"))},
           "SLIPWAY_HOME": str(tmp_path / "home"), "SLIPWAY_S3_ENDPOINT_URL": endpoint,
           "SLIPWAY_S3_ACCESS_KEY_ID": ACCESS_KEY, "SLIPWAY_S3_SECRET_ACCESS_KEY": SECRET_KEY}
    done = subprocess.run([sys.executable, "-m", "slipway.cli.main", "up", "--port", "0", "--artifact-url", "s3://bkt/p"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0
    assert f"Error: Cannot reach the S3 service at {endpoint} for artifact store s3://bkt/p" in done.stderr + done.stdout
    assert SECRET_KEY not in done.stderr + done.stdout
