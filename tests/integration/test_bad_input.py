"""Input that is not ours gets a clear 400 naming the field and the value, never a 500 (issue #12).

One real server for the module: every test here only reads, or writes things no other test looks at.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import numpy as np
import orjson
import pytest

from slipway.client import Client
from tests.support.models import first_rows, write_cancer_artifact
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
    assert len(routes) >= 10, routes  # datasets, their versions, jobs, models, theirs, endpoints, users, keys…
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


@pytest.fixture(scope="module")
def endpoints(srv: SlipwayServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Two endpoints of the same pipeline (no imputer): one on its ONNX export, one on scikit-learn itself;
    endpoint name -> the URL of its replica's own port."""
    folder = write_cancer_artifact(tmp_path_factory.mktemp("model") / "v1")
    replicas = {}
    with Client(url=srv.url, home=srv.home) as c:
        c.models.import_(folder, "cancer")
        for name, onnx in (("cancer-onnx", True), ("cancer-sklearn", False)):
            ep = c.endpoints.deploy(name, "cancer:1", serving={"onnx": onnx})
            replicas[name] = ep.replicas[0].url
    return replicas


def _npy(rows: list[list[float]]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array(rows))
    return buf.getvalue()


def _payloads() -> list[tuple[str, bytes, str, str]]:
    """(case, body, content type, the start of the message): bad value in row 1 (0-based) column 2."""
    good = first_rows(2)
    bad = [good[0], [*good[1][:2], float("inf"), *good[1][3:]]]
    nan = [good[0], [*good[1][:2], float("nan"), *good[1][3:]]]
    csv = "\n".join(",".join(map(str, r)) for r in bad).encode()
    return [
        ("csv inf", csv, "text/csv", "CSV row 2, feature 'mean_perimeter' (column 2) has value inf."),
        ("csv -inf", csv.replace(b"inf", b"-inf"), "text/csv",
         "CSV row 2, feature 'mean_perimeter' (column 2) has value -inf."),
        ("csv nan", csv.replace(b"inf", b"nan"), "text/csv",
         "CSV row 2, feature 'mean_perimeter' (column 2) has no value"),
        ("npy inf", _npy(bad), "application/x-npy", "Row 1, feature 'mean_perimeter' (column 2) has value inf."),
        ("npy nan", _npy(nan), "application/x-npy", "Row 1, feature 'mean_perimeter' (column 2) has no value"),
        ("json null", orjson.dumps({"instances": [good[0], [*good[1][:2], None, *good[1][3:]]]}),
         "application/json", "Row 1, feature 'mean_perimeter' (column 2) has no value"),
        ("json 1e999", b'{"instances": [[1e999]]}', "application/json", "The request body is not valid JSON"),
    ]


@pytest.mark.parametrize("endpoint", ["cancer-onnx", "cancer-sklearn"])
def test_infinity_and_unwanted_nan_are_400s_naming_row_and_column_everywhere(
        srv: SlipwayServer, http: httpx.Client, endpoints: dict[str, str], endpoint: str) -> None:
    path = f"/endpoints/{endpoint}/invocations"
    for case, body, ctype, message in _payloads():
        # A key the server has not seen yet goes through the FastAPI route; the same key again takes the
        # plain-ASGI fast path (its key is now cached); the replica's own port answers the same.
        key = http.post("/api/v1/keys", json={"description": case}).json()["key"]
        with srv.http(key) as fresh:
            answers = [fresh.post(path, content=body, headers={"Content-Type": ctype}) for _ in range(2)]
        answers.append(httpx.post(endpoints[endpoint], content=body, headers={"Content-Type": ctype}, timeout=30))
        for r in answers:
            assert r.status_code == 400, (case, r.text)
            assert r.json()["error"]["message"].startswith(message), (case, r.json())
    ok = http.post(path, content=_npy(first_rows(2)), headers={"Content-Type": "application/x-npy"})
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 2


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/api/v1/datasets/x:¹", None),  # '¹'.isdigit(): int() raised
    ("GET", "/api/v1/models/x/versions/99999999999999999999", None),  # outside the documented pattern (was a 404)
    ("GET", "/api/v1/audit?since=99999999999999d", None),  # a timedelta past the calendar
    ("GET", "/api/v1/audit/counts?since=349206w", None),
    ("POST", "/api/v1/keys", {"expires": "99999999999w"}),
    ("POST", "/api/v1/keys", {"expires": ""}),  # was taken as "never expires"
])
def test_inputs_the_fuzzer_found_are_400s(http: httpx.Client, method: str, path: str, body: object) -> None:
    r = http.request(method, path, json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] in ("version", "since", "expires"), r.text


def test_a_405_lists_every_method_of_the_path(http: httpx.Client) -> None:
    r = http.request("PUT", "/api/v1/datasets/x:1")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET"
    assert r.json()["error"]["message"] == "PUT is not allowed on /api/v1/datasets/x:1. Allowed: DELETE, GET."
    assert http.request("PATCH", "/api/v1/users").headers["allow"] == "GET, POST"
    # where a literal path overlaps a template, the literal one is the resource
    assert http.request("GET", "/api/v1/keys/rotate-master").headers["allow"] == "POST"


def test_the_openapi_document_gives_every_error_one_shape(http: httpx.Client) -> None:
    doc = http.get("/openapi.json").json()
    assert set(doc["components"]["schemas"]["ErrorResponse"]["properties"]) == {"error"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            assert "422" not in codes and {"401", "403", "429"} <= codes, (method, path)
            if path.endswith(("/artifact", "/model", "/output")):
                assert set(op["responses"]["200"]["content"]) == {"application/gzip"}, path
            for code in {c for c in codes if not c.startswith("2")}:  # every success (200, 201, 202, 204) has its own
                schema = op["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, code)
