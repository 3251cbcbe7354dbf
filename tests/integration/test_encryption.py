"""Encryption at rest through a real server: no plaintext on disk, exact pulls, wrong keys, rotation."""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path

from slipway.client import Client
from tests.support.servers import SlipwayServer

MARKER = b"confidential-marker"


def stored_files(home: Path) -> dict[str, bytes]:
    root = home / "artifacts"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def write_csv(path: Path, rows: int = 3000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"id,note,label\n" + b"".join(b"%d,%s-%d,%s\n" % (i, MARKER, i, b"yes" if i % 2 else b"no")
                                                      for i in range(rows)))
    return path


def test_pushed_datasets_are_encrypted_at_rest(server: SlipwayServer, client: Client, tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "in" / "secret.csv")
    folder = tmp_path / "in" / "notes"
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        (folder / cls / "1.txt").write_bytes(MARKER + b" text of class " + cls.encode())
    v = client.datasets.push("secret", csv, label="label").version
    fv = client.datasets.push("notes", folder).version
    stored = stored_files(server.home)
    assert len([k for k in stored if k.startswith(".keys/")]) == 2
    for name, blob in stored.items():
        assert MARKER not in blob, name
        assert b"id,note,label" not in blob, name
    out = client.datasets.pull("secret:1", tmp_path / "out")
    assert out.read_bytes() == csv.read_bytes()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == v.sha256
    with server.http() as http:
        r = http.get("/api/v1/datasets/secret:1/content")
    assert r.content == csv.read_bytes() and r.headers["X-Slipway-Sha256"] == v.sha256
    pulled = client.datasets.pull(fv.ref, tmp_path / "out2")
    assert (pulled / "b" / "1.txt").read_bytes() == MARKER + b" text of class b"


def test_wrong_master_key_fails_loudly(tmp_path: Path) -> None:
    right = base64.b64encode(secrets.token_bytes(32)).decode()
    wrong = secrets.token_bytes(32).hex()
    home = tmp_path / "home"
    csv = write_csv(tmp_path / "data.csv", rows=10)
    srv = SlipwayServer(home, env={"SLIPWAY_MASTER_KEY": right}).start()
    with Client(url=srv.url, home=home) as c:
        c.datasets.push("d", csv)
    srv.stop()
    assert not (home / "master.key").exists()  # the key came from the environment
    srv = SlipwayServer(home, env={"SLIPWAY_MASTER_KEY": wrong}).start()
    try:
        with srv.http() as http:
            r = http.get("/api/v1/datasets/d:1/content")
        err = r.json()["error"]
        assert r.status_code == 500 and err["code"] == "decryption_failed"
        assert "encrypted under master key" in err["message"] and "Restore the master key" in err["message"]
        assert MARKER not in r.content
    finally:
        srv.stop()
    srv = SlipwayServer(home, env={"SLIPWAY_MASTER_KEY": right}).start()
    try:
        with srv.http() as http:
            assert http.get("/api/v1/datasets/d:1/content").content == csv.read_bytes()
    finally:
        srv.stop()


def test_rotate_master_rewraps_keys_without_rewriting_data(server: SlipwayServer, client: Client, cli,
                                                           tmp_path: Path) -> None:
    csv = write_csv(tmp_path / "data.csv", rows=50)
    client.datasets.push("d", csv)
    client.secrets.set("TOKEN", "t0k3n")
    old_key = (server.home / "master.key").read_bytes()
    before = stored_files(server.home)
    r = cli("keys", "rotate-master")
    assert r.returncode == 0, r.stderr
    assert "re-wrapped 1 artifact keys and 1 secret keys" in r.stdout
    after = stored_files(server.home)
    assert (server.home / "master.key").read_bytes() != old_key
    assert not (server.home / "master.key.new").exists()
    data = [k for k in before if not k.startswith(".keys/")]
    assert data and all(after[k] == before[k] for k in data)
    assert all(after[k] != before[k] for k in before if k.startswith(".keys/"))
    assert client.datasets.pull("d:1", tmp_path / "out").read_bytes() == csv.read_bytes()
    # After a restart the new key file is what is loaded.
    server.stop()
    server.start()
    with Client(url=server.url, home=server.home) as c:
        assert c.datasets.pull("d:1", tmp_path / "out2").read_bytes() == csv.read_bytes()


def test_names_and_paths_cannot_escape_the_store(server: SlipwayServer, tmp_path: Path) -> None:
    import io
    import tarfile

    body = b"a,b\n1,2\n"
    evil_tar = io.BytesIO()
    with tarfile.open(fileobj=evil_tar, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    with server.http() as http:
        for name in ("..%2F..%2Fescaped", "%2E%2E", "a%2F..%2F..%2Fescaped"):
            r = http.post(f"/api/v1/datasets/{name}/versions", content=body)
            assert 400 <= r.status_code < 500, name
        r = http.post("/api/v1/datasets/ok/versions", content=body, params={"filename": "../../escaped.csv"})
        assert r.status_code == 201 and r.json()["version"]["filename"] == "escaped.csv"
        r = http.post("/api/v1/datasets/tarred/versions", content=evil_tar.getvalue(),
                      params={"filename": "x", "kind": "folder", "format": "text-folder"})
        assert r.status_code == 400 and "'..'" in r.json()["error"]["message"]
    outside = [p for p in tmp_path.rglob("escaped*") if "artifacts" not in p.parts]
    assert outside == []
