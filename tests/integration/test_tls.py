"""`slipway up --tls-cert --tls-key` serves HTTPS; the SDK and CLI trust a CA bundle from SLIPWAY_CA_BUNDLE."""

from __future__ import annotations

import datetime as dt
import ipaddress
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slipway.client import Client
from tests.support.servers import SlipwayServer


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_https(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    srv = SlipwayServer(tmp_path / "home", extra_args=["--tls-cert", str(cert), "--tls-key", str(key)],
                        verify=str(cert)).start()
    try:
        assert srv.url.startswith("https://127.0.0.1:")
        monkeypatch.setenv("SLIPWAY_CA_BUNDLE", str(cert))
        with Client(url=srv.url, home=srv.home) as c:
            assert c.status().url == srv.url
            assert c.plain.status().url == srv.url  # the CLI's reads (http.client, slipway.sdk.plainget)
            assert c.whoami().user == "admin"
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not answered
            httpx.get(srv.url.replace("https://", "http://") + "/healthz", timeout=5).raise_for_status()
        with pytest.raises(httpx.ConnectError):  # an unknown certificate is refused by default
            httpx.get(srv.url + "/healthz", timeout=5)
        env = {**srv.cli_env(), "SLIPWAY_CA_BUNDLE": str(cert)}
        r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "status"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and srv.url in r.stdout
        env.pop("SLIPWAY_CA_BUNDLE")  # the certificate is unknown: refused, in one line, as by the SDK's client
        r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "jobs", "list"], env=env, capture_output=True,
                           text=True, timeout=60)
        assert (r.returncode, r.stderr) == (1, f"Error: No Slipway server answers at {srv.url}. Start one with "
                                               "`slipway up` (or `make run`), or point SLIPWAY_URL at a running "
                                               "server.\n")
    finally:
        srv.stop()


def test_tls_needs_both_files(tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(tmp_path / "h"), "up", "--port", "0",
                        "--tls-cert", str(cert)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "--tls-cert and --tls-key" in r.stderr
    r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(tmp_path / "h"), "up", "--port", "0",
                        "--tls-cert", str(cert), "--tls-key", str(tmp_path / "missing.pem")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "missing.pem" in r.stderr
