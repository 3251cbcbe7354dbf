"""Input that is not ours gets a clear 400 naming the field and the value, never a 500 (issue #12).

One real server for the module: every test here only reads, or writes things no other test looks at.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.servers import SlipwayServer


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlipwayServer]:
    server = SlipwayServer(tmp_path_factory.mktemp("bad-input") / "home").start()
    yield server
    server.stop()


@pytest.fixture
def http(srv: SlipwayServer) -> Iterator[httpx.Client]:
    with srv.http() as c:
        yield c


def _list_routes(http: httpx.Client) -> list[str]:
    """Every GET path of the served API that takes a page_token, path parameters filled in."""
    paths = []
    for path, ops in http.get("/openapi.json").json()["paths"].items():
        params = ops.get("get", {}).get("parameters", [])
        if any(p["name"] == "page_token" for p in params):
            paths.append(path.replace("{name}", "x"))
    return paths


BAD_TOKENS = ["¹", "99999999999999999999", "bm90IG91ciB0b2tlbg==", "-1", "", " 1", "1.0", "٣"]


def test_every_list_route_answers_400_to_a_page_token_that_is_not_ours(http: httpx.Client) -> None:
    routes = _list_routes(http)
    assert len(routes) >= 10, routes  # datasets, versions, jobs, models, versions, endpoints, users, keys, audit, tuning
    for path in routes:
        for token in BAD_TOKENS:
            r = http.get(path, params={"page_token": token})
            assert r.status_code == 400, (path, token, r.text)
            error = r.json()["error"]
            assert error["details"] == {"field": "page_token", "value": token}, (path, token)
            assert f"Field 'page_token' has value {token!r}" in error["message"]
        assert http.get(path, params={"page_token": "0"}).status_code in (200, 404), path


def test_a_real_page_token_still_pages(http: httpx.Client) -> None:
    for n in range(3):
        http.post("/api/v1/users", json={"name": f"pager-{n}", "role": "viewer"}).raise_for_status()
    first = http.get("/api/v1/users", params={"limit": 2}).json()
    second = http.get("/api/v1/users", params={"limit": 2, "page_token": first["next_page_token"]}).json()
    names = [u["name"] for u in first["items"] + second["items"]]
    assert len(names) == len(set(names)) == min(4, first["total"])
