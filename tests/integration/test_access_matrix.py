"""Every route is protected: role x route matrix through a real server, and routes are born protected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from slipway.api import create_app
from slipway.api.deps import OPEN_PATHS, check_routes_protected, iter_routes
from slipway.client import Client
from slipway.services import Platform
from slipway.settings import Settings
from tests.support.servers import SlipwayServer

ROLES = ["admin", "data-scientist", "viewer", "invoker"]
ADMINISTRATION = ("users:", "keys:", "roles:")
def _source_tar() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"print('hello')\n"
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


POLICY = {"Statement": [{"Effect": "Allow", "Action": ["datasets:Get"], "Resource": ["*"]}]}

# (method, route template, action, request kwargs); {r} is the role, {kid} a key id to revoke.
MATRIX: list[tuple[str, str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/status", "system:GetStatus", {}),
    ("GET", "/metrics", "system:GetMetrics", {}),
    ("GET", "/api/v1/whoami", "auth:WhoAmI", {}),
    ("GET", "/api/v1/datasets", "datasets:List", {}),
    ("POST", "/api/v1/datasets/{name}/versions", "datasets:Create",
     {"name": "new-{r}", "content": b"a,b\n1,2\n", "params": {"filename": "d.csv"}}),
    ("GET", "/api/v1/datasets/{name}/versions", "datasets:Get", {"name": "d-{r}"}),
    ("GET", "/api/v1/datasets/{ref}", "datasets:Get", {"ref": "d-{r}:1"}),
    ("GET", "/api/v1/datasets/{ref}/content", "datasets:Get", {"ref": "d-{r}:1"}),
    # the dashboard: the same actions as the API reads behind it
    ("GET", "/", "system:GetStatus", {}),
    ("GET", "/ui/datasets", "datasets:List", {}),
    ("GET", "/ui/datasets/{ref}", "datasets:Get", {"ref": "d-{r}:1"}),
    ("GET", "/ui/models", "models:List", {}),
    ("GET", "/ui/models/{name}", "models:Get", {"name": "m-{r}"}),
    ("GET", "/ui/endpoints", "endpoints:List", {}),
    ("GET", "/ui/endpoints/{name}", "endpoints:Get", {"name": "e-{r}"}),
    ("GET", "/ui/monitors", "monitors:List", {}),
    ("GET", "/ui/monitors/{name}", "monitors:Get", {"name": "mon-{r}"}),
    ("GET", "/ui/alarms", "alarms:List", {}),
    ("GET", "/ui/alarms/{name}", "alarms:Get", {"name": "al-{r}"}),
    ("GET", "/ui/endpoints/{name}/charts", "endpoints:Get", {"name": "e-{r}"}),
    ("GET", "/ui/keys", "keys:List", {}),
    # the dashboard's forms: the same actions as the API calls behind them
    ("POST", "/ui/models/{name}/versions/{version}/approval", "models:Approve",
     {"name": "m-{r}", "version": "1", "data": {"status": "Approved"}}),
    ("POST", "/ui/models/{name}/aliases", "models:SetAlias", {"name": "m-{r}", "data": {"alias": "a", "version": "1"}}),
    ("POST", "/ui/models/{name}/aliases/{alias}/remove", "models:SetAlias", {"name": "m-{r}", "alias": "a"}),
    ("POST", "/ui/endpoints", "endpoints:Create", {"data": {"endpoint": "ui-{r}", "model": "nope:1"}}),
    ("POST", "/ui/endpoints/{name}/update", "endpoints:Update", {"name": "e-{r}", "data": {"model": "nope:1"}}),
    ("POST", "/ui/endpoints/{name}/rollback", "endpoints:Rollback", {"name": "e-{r}"}),
    ("POST", "/ui/jobs/{name}/stop", "jobs:Stop", {"name": "j-{r}"}),
    ("POST", "/ui/tuning/{name}/stop", "tuning:Stop", {"name": "t-{r}"}),
    ("POST", "/ui/keys", "keys:Create", {"data": {"user": "t-{r}"}}),
    ("POST", "/ui/keys/{key_id}/revoke", "keys:Delete", {"key_id": "{kid}"}),
    ("DELETE", "/api/v1/datasets/{ref}", "datasets:Delete", {"ref": "d-{r}:1"}),
    ("GET", "/api/v1/algorithms", "algorithms:List", {}),
    ("GET", "/api/v1/algorithms/{name}", "algorithms:Get", {"name": "logistic-regression"}),
    ("GET", "/api/v1/jobs", "jobs:List", {}),
    ("PUT", "/api/v1/jobs/{name}/source", "jobs:Create", {"name": "src-{r}", "content": _source_tar()}),
    ("POST", "/api/v1/jobs/{name}", "jobs:Create",
     {"name": "new-{r}", "json": {"algorithm": "logistic-regression", "inputs": {"train": "jd-{r}:1"}}}),
    ("POST", "/api/v1/jobs/{name}/stop", "jobs:Stop", {"name": "new-{r}"}),
    ("GET", "/api/v1/jobs/{name}", "jobs:Get", {"name": "j-{r}"}),
    ("GET", "/api/v1/jobs/{name}/logs", "jobs:Get", {"name": "j-{r}"}),
    ("GET", "/api/v1/jobs/{name}/metrics", "jobs:Get", {"name": "j-{r}"}),
    ("GET", "/api/v1/jobs/{name}/model", "jobs:Download", {"name": "j-{r}"}),
    ("GET", "/api/v1/jobs/{name}/output", "jobs:Download", {"name": "j-{r}"}),
    ("GET", "/ui/jobs", "jobs:List", {}),
    ("GET", "/ui/jobs/{name}", "jobs:Get", {"name": "j-{r}"}),
    ("GET", "/ui/jobs/{name}/logs", "jobs:Get", {"name": "j-{r}"}),
    ("GET", "/api/v1/models", "models:List", {}),
    ("POST", "/api/v1/models/{name}/versions", "models:Register", {"name": "m-{r}", "json": {}}),
    ("POST", "/api/v1/models/{name}/versions/from-job", "models:Register",
     {"name": "m-{r}", "json": {"source": "j-{r}"}}),
    ("GET", "/api/v1/models/{name}/versions", "models:Get", {"name": "m-{r}"}),
    ("GET", "/api/v1/models/{name}/versions/{version}", "models:Get", {"name": "m-{r}", "version": "1"}),
    ("GET", "/api/v1/models/{name}/aliases/{alias}", "models:Get", {"name": "m-{r}", "alias": "production"}),
    ("PUT", "/api/v1/models/{name}/aliases/{alias}", "models:SetAlias", {"name": "m-{r}", "alias": "production", "json": {"version": 1}}),
    ("DELETE", "/api/v1/models/{name}/aliases/{alias}", "models:SetAlias", {"name": "m-{r}", "alias": "production"}),
    ("GET", "/api/v1/models/{name}/history", "models:Get", {"name": "m-{r}"}),
    ("PUT", "/api/v1/models/{name}/versions/{version}/approval", "models:Approve",
     {"name": "m-{r}", "version": "1", "json": {"status": "Approved"}}),
    ("GET", "/api/v1/models/{name}/versions/{version}/artifact", "models:Export", {"name": "m-{r}", "version": "1"}),
    ("DELETE", "/api/v1/models/{name}/versions/{version}", "models:Delete", {"name": "m-{r}", "version": "1"}),
    ("GET", "/api/v1/endpoints", "endpoints:List", {}),
    ("POST", "/api/v1/endpoints/{name}", "endpoints:Create", {"name": "e-{r}", "json": {}}),
    ("GET", "/api/v1/endpoints/{name}", "endpoints:Get", {"name": "e-{r}"}),
    ("GET", "/api/v1/endpoints/{name}/metrics", "endpoints:Get", {"name": "e-{r}"}),
    ("GET", "/api/v1/endpoints/{name}/capture", "endpoints:GetCapture", {"name": "e-{r}"}),
    ("PUT", "/api/v1/endpoints/{name}/capture", "endpoints:Update", {"name": "e-{r}", "json": {"percent": 10}}),
    ("PATCH", "/api/v1/endpoints/{name}", "endpoints:Update", {"name": "e-{r}", "json": {}}),
    ("POST", "/api/v1/endpoints/{name}/rollback", "endpoints:Rollback", {"name": "e-{r}"}),
    ("DELETE", "/api/v1/endpoints/{name}", "endpoints:Delete", {"name": "e-{r}"}),
    ("POST", "/endpoints/{name}/invocations", "endpoints:Invoke", {"name": "e-{r}", "json": {"instances": [[1]]}}),
    ("POST", "/api/v1/models/{name}/versions/{version}/baseline", "models:Register",
     {"name": "m-{r}", "version": "1", "json": {"dataset": "d-{r}:1"}}),
    ("GET", "/api/v1/models/{name}/versions/{version}/baseline", "models:Get", {"name": "m-{r}", "version": "1"}),
    ("GET", "/api/v1/monitors", "monitors:List", {}),
    ("POST", "/api/v1/monitors/{name}", "monitors:Create", {"name": "mon-{r}", "json": {"endpoint": "e-{r}"}}),
    ("GET", "/api/v1/monitors/{name}", "monitors:Get", {"name": "mon-{r}"}),
    ("POST", "/api/v1/monitors/{name}/run", "monitors:Run", {"name": "mon-{r}"}),
    ("DELETE", "/api/v1/monitors/{name}", "monitors:Delete", {"name": "mon-{r}"}),
    ("GET", "/api/v1/alarms", "alarms:List", {}),
    ("POST", "/api/v1/alarms/{name}", "alarms:Create",
     {"name": "al-{r}", "json": {"metric": "endpoint/e-{r}/p99_ms", "threshold": 50}}),
    ("GET", "/api/v1/alarms/{name}", "alarms:Get", {"name": "al-{r}"}),
    ("DELETE", "/api/v1/alarms/{name}", "alarms:Delete", {"name": "al-{r}"}),
    ("POST", "/endpoints/{name}/async-invocations", "endpoints:InvokeAsync",
     {"name": "e-{r}", "json": {"instances": [[1]]}}),
    ("GET", "/endpoints/{name}/async-invocations/{invocation_id}", "endpoints:GetAsyncResult",
     {"name": "e-{r}", "invocation_id": "0" * 32}),
    ("GET", "/endpoints/{name}/async-invocations/{invocation_id}/result", "endpoints:GetAsyncResult",
     {"name": "e-{r}", "invocation_id": "0" * 32}),
    ("GET", "/api/v1/transforms", "transforms:List", {}),
    ("POST", "/api/v1/transforms/{name}", "transforms:Create",
     {"name": "x-{r}", "json": {"model": "nope:1", "data": "d-{r}:1", "output": "p-{r}"}}),
    ("GET", "/api/v1/transforms/{name}", "transforms:Get", {"name": "x-{r}"}),
    ("POST", "/api/v1/transforms/{name}/stop", "transforms:Stop", {"name": "x-{r}"}),
    ("GET", "/ui/transforms", "transforms:List", {}),
    ("GET", "/ui/transforms/{name}", "transforms:Get", {"name": "x-{r}"}),
    ("GET", "/api/v1/tuning-jobs", "tuning:List", {}),
    ("POST", "/api/v1/tuning-jobs/{name}", "tuning:Create", {"name": "t-{r}", "json": {
        "job": {"algorithm": "logistic-regression", "inputs": {"train": "jd-{r}:1"}},
        "objective": "validation:accuracy", "max_trials": 1}}),
    ("GET", "/api/v1/tuning-jobs/{name}", "tuning:Get", {"name": "t-{r}"}),
    ("POST", "/api/v1/tuning-jobs/{name}/stop", "tuning:Stop", {"name": "t-{r}"}),
    ("POST", "/api/v1/tuning-jobs/{name}/resume", "tuning:Resume", {"name": "t-{r}"}),
    ("GET", "/ui/tuning", "tuning:List", {}),
    ("GET", "/ui/tuning/{name}", "tuning:Get", {"name": "t-{r}"}),
    ("GET", "/api/v1/users", "users:List", {}),
    ("POST", "/api/v1/users", "users:Create", {"json": {"name": "new-{r}", "role": "viewer"}}),
    ("GET", "/api/v1/users/{name}", "users:Get", {"name": "t-{r}"}),
    ("PATCH", "/api/v1/users/{name}", "users:Update", {"name": "t-{r}", "json": {"disabled": True}}),
    ("GET", "/api/v1/keys", "keys:List", {}),
    ("POST", "/api/v1/keys", "keys:Create", {"json": {"user": "t-{r}"}}),
    ("POST", "/api/v1/keys/rotate-master", "keys:RotateMaster", {}),
    ("DELETE", "/api/v1/keys/{key_id}", "keys:Delete", {"key_id": "{kid}"}),
    ("GET", "/api/v1/roles", "roles:List", {}),
    ("POST", "/api/v1/roles", "roles:Create", {"json": {"name": "new-{r}", "policy": POLICY}}),
    ("GET", "/api/v1/roles/{name}", "roles:Get", {"name": "role-{r}"}),
    ("DELETE", "/api/v1/roles/{name}", "roles:Delete", {"name": "role-{r}"}),
    ("GET", "/api/v1/audit", "audit:List", {}),
    ("GET", "/api/v1/audit/counts", "audit:List", {}),
    ("GET", "/api/v1/secrets", "secrets:List", {}),
    ("PUT", "/api/v1/secrets/{name}", "secrets:Create", {"name": "new-{r}", "json": {"value": "v"}}),
    ("DELETE", "/api/v1/secrets/{name}", "secrets:Delete", {"name": "s-{r}"}),
    ("GET", "/api/v1/pipelines", "pipelines:List", {}),
    ("POST", "/api/v1/pipelines/{name}", "pipelines:Create",
     {"name": "p-{r}", "json": {"steps": [{"name": "stop", "type": "fail", "message": "{r}"}]}}),
    ("GET", "/api/v1/pipelines/{name}", "pipelines:Get", {"name": "p-{r}"}),
    ("POST", "/api/v1/pipelines/{name}/runs", "pipelines:Run", {"name": "p-{r}", "json": {}}),
    ("GET", "/api/v1/pipelines/{name}/runs", "pipelines:Get", {"name": "p-{r}"}),
    ("GET", "/api/v1/pipelines/{name}/runs/{number}", "pipelines:Get", {"name": "p-{r}", "number": "1"}),
    ("POST", "/api/v1/pipelines/{name}/runs/{number}/stop", "pipelines:Stop", {"name": "p-{r}", "number": "1"}),
    ("PUT", "/api/v1/pipelines/{name}/schedule", "pipelines:Update",
     {"name": "p-{r}", "json": {"cron": "0 3 * * *", "timezone": "UTC"}}),
    ("DELETE", "/api/v1/pipelines/{name}/schedule", "pipelines:Update", {"name": "p-{r}"}),
    ("POST", "/api/v1/pipelines/{name}/triggers", "pipelines:Update", {"name": "p-{r}", "json": {"on": "dataset:x"}}),
    ("DELETE", "/api/v1/pipelines/{name}/triggers", "pipelines:Update",
     {"name": "p-{r}", "params": {"on": "dataset:x"}}),
    ("GET", "/ui/pipelines", "pipelines:List", {}),
    ("GET", "/ui/pipelines/{name}", "pipelines:Get", {"name": "p-{r}"}),
    ("DELETE", "/api/v1/pipelines/{name}", "pipelines:Delete", {"name": "p-{r}"}),
]


def _fill(value: Any, role: str) -> Any:
    """Put the role into every string of a request body."""
    if isinstance(value, str):
        return value.replace("{r}", role)
    if isinstance(value, dict):
        return {k: _fill(v, role) for k, v in value.items()}
    return value


def expected_allowed(role: str, action: str) -> bool:
    """The built-in roles as docs/security.md states them, written out independently of the code."""
    verb = action.split(":")[1]
    if action == "auth:WhoAmI" or role == "admin":
        return True
    if role == "data-scientist":
        return not action.startswith(ADMINISTRATION)
    if role == "viewer":
        return verb in ("List", "Get", "GetStatus", "GetMetrics") and not action.startswith(ADMINISTRATION)
    return action in ("system:GetStatus", "endpoints:Invoke", "endpoints:InvokeAsync",
                      "endpoints:GetAsyncResult")  # invoker


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    platform = Platform(Settings.load(env={}, home=tmp_path / "routes-home"))
    try:
        app = create_app(platform)
        return {(m, path) for methods, path, _ in iter_routes(app.routes) if path not in OPEN_PATHS
                for m in methods if m != "HEAD"}
    finally:
        platform.close()


def test_the_matrix_covers_every_route(tmp_path: Path) -> None:
    assert {(m, p) for m, p, _, _ in MATRIX} == app_routes(tmp_path)


def test_a_route_without_permission_cannot_be_added() -> None:
    router = APIRouter()

    @router.get("/api/v1/leaky")
    async def leaky() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(RuntimeError, match=r"/api/v1/leaky has no permission dependency"):
        check_routes_protected(app.routes)


def test_every_route_refuses_callers_without_a_key(sqlite_server: SlipwayServer) -> None:
    with sqlite_server.http(api_key=None) as http:
        for method, template, _, _ in MATRIX:
            path = (template.replace("{name}", "x").replace("{ref}", "x:1").replace("{key_id}", "x")
                    .replace("{version}", "1").replace("{alias}", "a").replace("{invocation_id}", "0" * 32)
                    .replace("{number}", "1"))
            r = http.request(method, path, json={})
            if path == "/" or path.startswith("/ui/"):  # a browser is sent to the sign-in page
                assert r.status_code == 303 and r.headers["location"].startswith("/ui/login"), (method, path)
            else:
                assert r.status_code == 401, (method, path, r.text)


def test_role_action_matrix(server: SlipwayServer, client: Client, make_csv) -> None:
    keys: dict[str, str] = {}
    kids: dict[str, str] = {}
    for role in ROLES:
        client.users.create(f"u-{role}", role)
        keys[role] = client.keys.create(user=f"u-{role}").key
        client.datasets.push(f"d-{role}", make_csv(name=f"{role}.csv"))
        client.users.create(f"t-{role}", "viewer")
        kids[role] = client.keys.create(user=f"t-{role}").key_id
        client.secrets.set(f"s-{role}", "value")
        client.roles.create(f"role-{role}", POLICY)
        client.datasets.push(f"jd-{role}", make_csv(name=f"j{role}.csv"), label="label")
        client.jobs.create(f"j-{role}", algorithm="logistic-regression", data={"train": f"jd-{role}:1"})
    for role in ROLES:
        client.jobs.get(f"j-{role}").wait()

    failures = []
    for role in ROLES:
        with server.http(api_key=keys[role]) as http:
            for method, template, action, spec in MATRIX:
                spec = dict(spec)
                params = {k: spec.pop(k).format(r=role, kid=kids[role])
                          for k in ("name", "ref", "key_id", "version", "alias", "invocation_id", "number") if k in spec}
                for body in ("json", "data"):
                    if body in spec:
                        spec[body] = _fill(spec[body], role)
                try:
                    r = http.request(method, template.format(**params), **spec)
                except httpx.HTTPError as exc:
                    failures.append((role, method, template, 0, repr(exc)))
                    continue
                allowed = expected_allowed(role, action)
                # Allowed: past the permission check and handled (a 404 "no output archive" is fine).
                ok = r.status_code not in (401, 403) and r.status_code < 500 if allowed else r.status_code == 403
                if not ok:
                    failures.append((role, method, template, r.status_code, r.text[:200]))
                elif not allowed and (template == "/" or template.startswith("/ui/")):
                    assert action in r.text and "text/html" in r.headers["content-type"]  # a page, same message
                elif not allowed:
                    err = r.json()["error"]
                    assert action in err["message"] and err["details"]["action"] == action
    assert failures == [], "\n".join(map(repr, failures))

    mutating = {(a, m) for m, _, a, _ in MATRIX if m != "GET"}
    events = client.audit.list(user="u-viewer", outcome="denied", limit=1000).items
    denied = [e for e in events if e.method != "GET"]
    assert {(e.action, e.method) for e in denied} == mutating
    assert len(denied) == sum(1 for m, _, _, _ in MATRIX if m != "GET")  # one entry for each denied mutation
    assert all(e.status == 403 and e.key_id == keys["viewer"].split("_")[1] for e in denied)
    # Denied reads are recorded too (allowed reads are not, by default).
    assert {e.action for e in events if e.method == "GET"} == {"users:List", "users:Get", "keys:List", "roles:List",
                                                                "roles:Get", "jobs:Download", "models:Export",
                                                                "endpoints:GetCapture", "endpoints:GetAsyncResult"}
