"""Datasets through a real server process with the SDK, on SQLite and on Postgres."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from PIL import Image

from slipway.client import Client
from slipway.errors import Conflict, InvalidArgument, NotFound
from tests.support.servers import SlipwayServer


def test_push_show_dedup_pull_delete(client: Client, make_csv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_csv(rows=25)
    first = client.datasets.push("cancer", path, label="label")
    assert first.created and first.version.ref == "cancer:1"
    v = first.version
    assert (v.rows, v.columns, v.format, v.label) == (25, 3, "csv", "label")
    assert v.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [(c.name, c.dtype, c.nulls) for c in v.schema_] == [("a", "int64", 0), ("b", "float64", 0), ("label", "string", 0)]

    again = client.datasets.push("cancer", path, label="label")
    assert not again.created and again.version.ref == "cancer:1"

    second = client.datasets.push("cancer", make_csv(name="other.csv", seed=3), label="label")
    assert second.version.ref == "cancer:2"
    assert client.datasets.get("cancer").version == 2
    assert client.datasets.get("cancer:latest").version == 2
    assert client.datasets.get("cancer:1").sha256 == v.sha256

    out = client.datasets.pull("cancer:1", tmp_path / "out")
    assert out == tmp_path / "out" / path.name
    assert out.read_bytes() == path.read_bytes()
    pool = client._api.http._transport._pool  # type: ignore[attr-defined]
    # bulk bytes went over http.client (sendfile up, one reused buffer down), not this pool's connection …
    assert [c._connection.READ_NUM_BYTES for c in pool.connections] == [1 << 16]
    # … except through a proxy, which only httpx honours (this client's httpx was made before the variable)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "")
    out = client.datasets.pull("cancer:1", tmp_path / "via-httpx")
    assert out.read_bytes() == path.read_bytes()
    # that download read the socket in 1 MB reads (httpcore's internals still as slipway.sdk.http expects)
    assert [c._connection.READ_NUM_BYTES for c in pool.connections] == [1 << 20]

    listed = client.datasets.list()
    assert [(d.name, d.versions, d.latest.ref) for d in listed.items] == [("cancer", 2, "cancer:2")]

    client.datasets.delete("cancer:1")
    with pytest.raises(NotFound, match=r"Versions of 'cancer': 2"):
        client.datasets.get("cancer:1")
    # Numbers are never reused after a delete.
    assert client.datasets.push("cancer", make_csv(name="third.csv", seed=9), label="label").version.ref == "cancer:3"


def test_folders_round_trip(client: Client, tmp_path: Path) -> None:
    text = tmp_path / "reviews"
    for cls, words in {"positive": ["great", "superb"], "negative": ["awful", "dull"]}.items():
        (text / cls).mkdir(parents=True)
        for i, w in enumerate(words):
            (text / cls / f"{i}.txt").write_text(f"a {w} film number {i}")
    v = client.datasets.push("reviews", text).version
    assert (v.format, v.kind, v.rows) == ("text-folder", "folder", 4)
    assert v.info["classes"] == {"negative": 2, "positive": 2}
    # Same content, same version, even though the tar is rebuilt.
    assert client.datasets.push("reviews", text).version.ref == "reviews:1"
    out = client.datasets.pull("reviews:1", tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "negative/0.txt", "negative/1.txt", "positive/0.txt", "positive/1.txt"]
    assert (out / "positive" / "1.txt").read_text() == "a superb film number 1"

    images = tmp_path / "digits"
    for cls in ("0", "1"):
        (images / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=i * 40).save(images / cls / f"{i}.png")
    iv = client.datasets.push("digits", images).version
    assert (iv.format, iv.rows, iv.info["classes"]) == ("image-folder", 6, {"0": 3, "1": 3})


@pytest.mark.parametrize("name", ["a/b", "..", "has space", "x" * 64, "-lead"])
def test_bad_names_are_rejected_by_the_server(server: SlipwayServer, make_csv, name: str) -> None:
    with server.http() as http:
        r = http.post(f"/api/v1/datasets/{name}/versions", content=make_csv().read_bytes())
    assert 400 <= r.status_code < 500
    if r.status_code == 400:
        err = r.json()["error"]
        assert err["code"] == "invalid_argument"
        assert "name" in err["message"]


def test_bad_inputs_get_clear_errors(client: Client, make_csv, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        client.datasets.push("x", tmp_path / "missing.csv")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4\n5,6,7\n")
    with pytest.raises(InvalidArgument, match=r"line 4"):
        client.datasets.push("x", ragged)
    with pytest.raises(InvalidArgument, match=r"Label column 'nope' not found.*columns are: a, b, label"):
        client.datasets.push("x", make_csv(), label="nope")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InvalidArgument, match="empty"):
        client.datasets.push("x", empty)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InvalidArgument, match="format"):
        client.datasets.push("x", blob)
    with pytest.raises(InvalidArgument, match="Expected one of"):
        client.datasets.push("x", make_csv(), format="xlsx")
    with pytest.raises(NotFound, match="cancer"):
        client.datasets.get("cancer:9")
    with pytest.raises(InvalidArgument, match="positive integer"):
        client.datasets.get("cancer:zero")
    # None of the failures left a dataset behind.
    assert client.datasets.list().total == 0


def test_error_shape_is_pinned(server: SlipwayServer) -> None:
    with server.http() as http:
        r = http.get("/api/v1/datasets/nothing:1")
        limit = http.get("/api/v1/datasets", params={"limit": "0"})
    assert r.status_code == 404
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details", "request_id"}
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == r.headers["x-request-id"]
    assert limit.status_code == 400 and "limit" in limit.json()["error"]["message"]


def test_interrupted_push_leaves_nothing(server: SlipwayServer, make_csv) -> None:
    body = make_csv(rows=5000).read_bytes()
    u = urlparse(server.url)
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall(
            b"POST /api/v1/datasets/half/versions?filename=half.csv HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any((server.home / "tmp").iterdir()):
        time.sleep(0.05)
    assert list((server.home / "tmp").iterdir()) == []
    with Client(url=server.url, home=server.home) as c:
        with pytest.raises(NotFound):
            c.datasets.get("half")
    stored = [p for p in (server.home / "artifacts").rglob("*") if p.is_file()]
    assert stored == []


def test_concurrent_pushes_make_distinct_versions(server: SlipwayServer, make_csv) -> None:
    paths = [make_csv(name=f"c{i}.csv", rows=200, seed=i) for i in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []

    def push(p: Path) -> None:
        try:
            with Client(url=server.url, home=server.home) as c:
                results.append(c.datasets.push("race", p, label="label").version.ref)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == ["race:1", "race:2", "race:3", "race:4"]


def test_pagination(client: Client, make_csv) -> None:
    for i in range(5):
        client.datasets.push(f"ds{i}", make_csv(name=f"p{i}.csv", seed=i))
    page = client.datasets.list(limit=2)
    assert [d.name for d in page.items] == ["ds0", "ds1"] and page.total == 5
    page2 = client.datasets.list(limit=2, page_token=page.next_page_token)
    assert [d.name for d in page2.items] == ["ds2", "ds3"]
    assert [d.name for d in client.datasets.iter()] == [f"ds{i}" for i in range(5)]


def test_referenced_version_needs_force(platform, make_csv, tmp_path: Path) -> None:
    from slipway.db.models import Reference

    src = make_csv()
    spooled = tmp_path / "spool"
    spooled.write_bytes(src.read_bytes())
    v = platform.datasets.push("used", spooled, filename="data.csv", label="label").version
    with platform.db.session() as s:
        s.add(Reference(source_kind="job", source_id="train-1", target_kind="dataset_version", target_id=v.ref, role="train"))
    with pytest.raises(Conflict, match="used by job train-1. Pass --force"):
        platform.datasets.delete(v.ref)
    assert platform.datasets.delete(v.ref, force=True).ref == "used:1"
    assert not platform.store.list("datasets/used")
