"""Throttled authentication cannot be turned against others: wrong keys are refused with 429 per source and
per key id, and a valid key is always answered, on the API and on the invocation fast path alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from slipway.client import Client
from tests.support.models import first_rows, write_cancer_artifact
from tests.support.servers import SlipwayServer

LIMIT = 5
INVOKE = "/endpoints/cancer-ep/invocations"


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[SlipwayServer]:
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_AUTH_MAX_FAILURES": str(LIMIT)}).start()
    yield srv
    srv.stop()


def _http(server: SlipwayServer, key: str, source: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``source`` (any 127.x address reaches a loopback server)."""
    return httpx.Client(base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {key}"},
                        transport=httpx.HTTPTransport(local_address=source))


def _wrong(key: str, n: int = 0) -> str:
    """The same key id with another secret."""
    return key[:17] + f"{n:04d}" + key[21:]


def test_wrong_keys_from_a_source_never_block_a_valid_key(throttled: SlipwayServer, tmp_path: Path) -> None:
    body = orjson.dumps({"instances": first_rows(1)})
    with Client(url=throttled.url, home=throttled.home) as admin:
        admin.models.import_(write_cancer_artifact(tmp_path / "v1"), "cancer")
        admin.endpoints.deploy("cancer-ep", "cancer:1")
        admin.users.create("ivy", "invoker")
        warm = admin.keys.create(user="ivy").key   # used before the flood: cached, takes the fast path
        cold = admin.keys.create(user="ivy").key   # first used during the flood: verified in the database
        fresh_admin = admin.keys.create().key
    with _http(throttled, warm) as c:
        assert c.post(INVOKE, content=body).status_code == 200

    # The flood: wrong keys from 127.0.0.1, on a normal route and on the invocation route.
    codes = []
    with _http(throttled, "swk_0123456789ab_" + "x" * 43) as bad:
        for i in range(LIMIT + 2):
            r = bad.get("/api/v1/status") if i % 2 else bad.post(INVOKE, content=body)
            codes.append(r.status_code)
        throttled_invoke = bad.post(INVOKE, content=body)
    assert codes == [401] * LIMIT + [429, 429]
    assert throttled_invoke.status_code == 429 and int(throttled_invoke.headers["Retry-After"]) >= 1
    assert "from 127.0.0.1" in throttled_invoke.json()["error"]["message"]

    # Valid keys from that very source are still verified and answered, on both paths.
    with _http(throttled, warm) as c:
        r = c.post(INVOKE, content=body)
        assert r.status_code == 200, r.text
        assert r.json()["predictions"][0]["label"] in ("malignant", "benign")
    with _http(throttled, cold) as c:
        assert c.post(INVOKE, content=body).status_code == 200
        assert c.get("/api/v1/status").status_code == 200
        assert c.get("/api/v1/datasets").status_code == 403  # the right answer for an invoker, not a 429
    with _http(throttled, fresh_admin) as c:
        assert c.get("/api/v1/status").status_code == 200
        assert c.get("/api/v1/users").status_code == 200


def test_guessing_one_key_id_from_many_sources_is_throttled_per_key_id(throttled: SlipwayServer) -> None:
    key = throttled.admin_key
    codes = []
    for i in range(LIMIT + 1):
        with _http(throttled, _wrong(key, i), source=f"127.0.0.{10 + i}") as c:
            codes.append(c.get("/api/v1/status"))
    assert [r.status_code for r in codes] == [401] * LIMIT + [429]
    assert f"for key id {key[4:16]}" in codes[-1].json()["error"]["message"]
    # The real key, from anywhere, still works; another source with another wrong key id is not throttled.
    with _http(throttled, key, source="127.0.0.99") as c:
        assert c.get("/api/v1/users").status_code == 200
    with _http(throttled, "swk_0123456789ab_" + "x" * 43, source="127.0.0.98") as c:
        assert c.get("/api/v1/status").status_code == 401
    with Client(url=throttled.url, home=throttled.home) as admin:
        denied = admin.audit.list(outcome="denied").items
    assert sum(e.status == 429 for e in denied) == 1 and sum(e.status == 401 for e in denied) == LIMIT + 1
