"""Input that is not ours gets a clear 400 naming the field and the value, never a 500 (issue #12).

One real server for the module: every test here only reads, or writes things no other test looks at.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

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


CONTROL = {"\x01": "U+0001", "\n": "U+000A", "\x7f": "U+007F", "\u202e": "U+202E"}


def _operations_with_path_params(http: httpx.Client) -> list[tuple[str, str, list[str]]]:
    out = []
    for path, ops in http.get("/openapi.json").json()["paths"].items():
        for method, op in ops.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            if names:
                out.append((method.upper(), path, names))
    return out


def test_a_control_character_in_any_path_name_is_a_400_naming_it_even_for_admin(http: httpx.Client) -> None:
    operations = _operations_with_path_params(http)
    assert len(operations) >= 40
    for method, path, params in operations:
        for param in params:
            for char, code in CONTROL.items():
                url = path
                for p in params:
                    url = url.replace("{" + p + "}", quote(f"a{char}b") if p == param else "x")
                r = http.request(method, url)
                assert r.status_code == 400, (method, path, param, code, r.text)
                error = r.json()["error"]
                assert error["details"]["character"] == code and error["details"]["field"] == param
                assert code in error["message"] and char not in error["message"]


@pytest.mark.parametrize("path, body", [
    ("/api/v1/users", {"name": "eve\x01", "role": "viewer"}),
    ("/api/v1/roles", {"name": "ops\nadmin", "policy": {"statements": [{"effect": "allow", "actions": ["*"],
                                                                      "resources": ["*"]}]}}),
])
def test_a_control_character_in_a_name_in_the_body_is_a_400_naming_it(http: httpx.Client, path: str,
                                                                        body: dict[str, object]) -> None:
    r = http.post(path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["character"] in CONTROL.values()


def test_the_audit_trail_never_records_a_raw_control_character(http: httpx.Client) -> None:
    for char in CONTROL:
        http.put(f"/api/v1/secrets/{quote('s' + char)}", json={"value": "x"})
        http.post("/api/v1/users", json={"name": f"u{char}", "role": "viewer"})
        http.delete(f"/api/v1/roles/{quote('r' + char)}")
    events = http.get("/api/v1/audit", params={"limit": 1000}).json()["items"]
    assert any(e["action"] == "users:Create" and e["outcome"] == "failed" for e in events)
    for event in events:
        for value in event.values():
            assert not (isinstance(value, str) and any(c in value for c in CONTROL)), event
