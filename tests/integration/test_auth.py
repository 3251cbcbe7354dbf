"""Access control through a real server: keys, 401/403/429, escalation, users, roles, secrets, audit, CLI."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from slipway.client import Client
from slipway.errors import Forbidden, InvalidArgument, TooManyRequests, Unauthorized
from slipway.schemas.auth import SIGNIN_DESCRIPTION
from tests.support.servers import SlipwayServer


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def test_first_start_stores_an_admin_key_and_local_use_needs_none(server: SlipwayServer, client: Client) -> None:
    creds = server.home / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE((server.home / "master.key").stat().st_mode) == 0o600
    key = json.loads(creds.read_text())["profiles"]["local"]["api_key"]
    assert key.startswith("swk_") and len(key.split("_", 2)[2]) == 43
    me = client.whoami()
    assert (me.user, me.role, me.restricted) == ("admin", "admin", False)
    assert [u.name for u in client.users.list().items] == ["admin"]
    # Besides the admin's key: the one-time dashboard sign-in link `slipway up` printed.
    listed = [k for k in client.keys.list().items if k.description != SIGNIN_DESCRIPTION]
    assert [k.key_id for k in listed] == [me.key_id]
    # The key itself, or its hash, is never listed again.
    assert key not in json.dumps([k.model_dump(mode="json") for k in listed])
    assert listed[0].last_used_at is not None


def test_no_wrong_expired_revoked_disabled_keys_get_the_same_401(server: SlipwayServer, client: Client) -> None:
    with server.http(api_key=None) as http:
        r = http.get("/api/v1/datasets")
        assert r.status_code == 401 and "Missing API key" in r.json()["error"]["message"]
        assert http.get("/healthz").status_code == 200
        assert http.get("/openapi.json").status_code == 200

    client.users.create("alice", "data-scientist")
    revoked = client.keys.create(user="alice").key
    client.keys.revoke(revoked.split("_")[1])
    expired = client.keys.create(user="alice", expires="1s").key
    client.users.create("bob", "data-scientist")
    disabled = client.keys.create(user="bob").key
    with Client(url=server.url, api_key=disabled) as bob:
        assert bob.whoami().user == "bob"
    client.users.disable("bob")
    good = client.keys.create(user="alice").key
    wrong = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    unknown_id = "swk_000000000000_" + good.split("_", 2)[2]

    def status_with(key: str) -> int:
        with server.http(api_key=key) as http:
            return http.get("/api/v1/datasets").status_code

    wait_for(lambda: status_with(expired) == 401)
    bodies = set()
    for key in (revoked, expired, disabled, wrong, unknown_id, "not-a-key"):
        with server.http(api_key=key) as http:
            r = http.get("/api/v1/datasets")
        assert r.status_code == 401, key
        err = r.json()["error"]
        bodies.add((err["message"], json.dumps(err["details"])))
    assert len(bodies) == 1  # does not say which
    assert "wrong, expired or revoked" in bodies.pop()[0]
    assert status_with(good) == 200
    with Client(url=server.url, api_key=revoked) as c, pytest.raises(Unauthorized):
        c.status()


def test_forbidden_names_action_and_resource_and_is_audited(server: SlipwayServer, client: Client, make_csv) -> None:
    client.users.create("vera", "viewer")
    key = client.keys.create(user="vera").key
    with Client(url=server.url, api_key=key) as viewer:
        assert viewer.datasets.list().total == 0
        with pytest.raises(Forbidden, match=r"'vera' .* may not datasets:Create on dataset/cancer"):
            viewer.datasets.push("cancer", make_csv())
    events = client.audit.list(user="vera", outcome="denied").items
    assert [(e.action, e.resource, e.status) for e in events] == [("datasets:Create", "dataset/cancer", 403)]
    assert events[0].key_id == key.split("_")[1] and events[0].source == "127.0.0.1" and events[0].request_id


def test_malformed_policy_gets_400_naming_the_field(client: Client, tmp_path: Path) -> None:
    bad = {"Statement": [{"Effect": "Allow", "Action": ["datasets:Get"], "Resource": ["*"]},
                         {"Effect": "Maybe", "Action": ["*"], "Resource": ["*"]}]}
    with pytest.raises(InvalidArgument, match=r"'Statement\[1\].Effect' has value 'Maybe'") as info:
        client.keys.create(policy=bad)
    assert info.value.status_code == 400 and info.value.details["field"] == "Statement[1].Effect"
    with pytest.raises(InvalidArgument, match=r"Statement\[0\].Resource"):
        client.roles.create("broken", {"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": []}]})
    with pytest.raises(InvalidArgument, match="expires"):
        client.keys.create(expires="forever")


def test_a_key_cannot_create_keys_or_users_with_more_rights(server: SlipwayServer, client: Client) -> None:
    narrow = {"Statement": [{"Effect": "Allow", "Action": ["keys:Create", "users:Create", "datasets:Get"],
                             "Resource": ["*"]}]}
    limited = client.keys.create(policy=narrow, description="limited admin key")
    assert limited.policy == narrow
    with Client(url=server.url, api_key=limited.key) as c:
        assert c.whoami().restricted
        with pytest.raises(Forbidden, match=r"may not datasets:List on \*"):
            c.datasets.list()
        # Narrower or equal: fine.
        ok = c.keys.create(policy={"Statement": [{"Effect": "Allow", "Action": ["datasets:Get"],
                                                  "Resource": ["dataset/a*"]}]})
        assert ok.key.startswith("swk_")
        # Wider: refused, even though the user (admin) could.
        with pytest.raises(Forbidden, match=r"would grant \* on \*"):
            c.keys.create()
        with pytest.raises(Forbidden, match=r"would grant datasets:\* on \*"):
            c.keys.create(policy={"Statement": [{"Effect": "Allow", "Action": ["datasets:*"], "Resource": ["*"]}]})
        with pytest.raises(Forbidden):
            c.users.create("mallory", "admin")
    client.users.create("dora", "data-scientist")
    dora = client.keys.create(user="dora").key
    with Client(url=server.url, api_key=dora) as c:
        with pytest.raises(Forbidden, match="keys:Create"):
            c.keys.create()
    denied = client.audit.list(outcome="denied", action="keys:*").items
    assert len(denied) == 3


def test_brute_force_is_throttled(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_AUTH_MAX_FAILURES": "5"}).start()
    try:
        with srv.http(api_key="swk_0123456789ab_" + "x" * 43) as http:
            codes = [http.get("/api/v1/status").status_code for _ in range(5)]
            r = http.get("/api/v1/status")
        assert codes == [401] * 5
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "too_many_requests"
        with Client(url=srv.url, home=srv.home) as admin:
            assert admin.status()  # a right key from there is still answered (see test_throttling.py)
        with Client(url=srv.url, api_key="swk_0123456789ab_" + "z" * 43) as wrong, pytest.raises(TooManyRequests):
            wrong.status()  # another wrong key from there is still refused
    finally:
        srv.stop()


def test_users_roles_and_secrets(server: SlipwayServer, client: Client) -> None:
    role = client.roles.create("dataset-reader", {"Statement": [
        {"Effect": "Allow", "Action": ["datasets:List", "datasets:Get"], "Resource": ["*"]}]})
    assert not role.builtin
    assert [r.name for r in client.roles.list()] == ["admin", "data-scientist", "viewer", "invoker", "dataset-reader"]
    client.users.create("rita", "dataset-reader")
    with pytest.raises(Exception, match="held by rita"):
        client.roles.delete("dataset-reader")
    with pytest.raises(Exception, match="built in"):
        client.roles.delete("admin")
    with pytest.raises(Exception, match="cannot disable itself"):
        client.users.disable("admin")
    assert client.users.update("rita", role="viewer").role == "viewer"
    assert client.roles.delete("dataset-reader").name == "dataset-reader"

    client.secrets.set("DB_PASSWORD", "s3cr3t-value")
    listed = client.secrets.list()
    assert [s.name for s in listed] == ["DB_PASSWORD"] and listed[0].created_by == "admin"
    with server.http() as http:
        for path in ("/api/v1/secrets", "/api/v1/audit?limit=1000"):
            assert "s3cr3t-value" not in http.get(path).text
        assert http.get("/api/v1/secrets/DB_PASSWORD").status_code == 405
    client.secrets.delete("DB_PASSWORD")
    assert client.secrets.list() == []


def test_cli_flows(server: SlipwayServer, cli, tmp_path: Path) -> None:
    assert cli("users", "create", "alice", "--role", "data-scientist").returncode == 0
    r = cli("keys", "create", "--user", "alice", "--expires", "30d")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("swk_") and "not shown again" in r.stderr
    listed = cli("keys", "list", "--output", "json")
    assert key not in listed.stdout
    assert {k["user"] for k in json.loads(listed.stdout)} == {"admin", "alice"}

    # login stores a profile (0600) for the URL in another home; that home then needs no key.
    other = tmp_path / "laptop"
    env = {"SLIPWAY_HOME": str(other)}
    r = cli("--home", str(other), "login", "--url", server.url, "--key", key, env=env)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE((other / "credentials").stat().st_mode) == 0o600
    r = cli("--home", str(other), "--url", server.url, "data", "list", "--output", "json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = cli("--home", str(other), "login", "--url", server.url, "--key", key[:-3] + "abc", env=env)
    assert r.returncode == 1 and "Invalid API key" in r.stderr
    # a list command's plain read (http.client, slipway.sdk.plainget) fails as a typed read (httpx) does
    bad = ["--home", str(other), "--url", server.url, "--api-key", key[:-3] + "abc"]
    plain, typed = cli(*bad, "models", "list", env=env), cli(*bad, "models", "versions", "any", env=env)
    assert (plain.returncode, plain.stderr) == (typed.returncode, typed.stderr) == (1, typed.stderr.splitlines()[0] + "\n")
    assert plain.stderr.startswith("Error: Invalid API key: it is wrong, expired or revoked")

    r = cli("secrets", "set", "DB_PASSWORD", input="pa55word\n")
    assert r.returncode == 0 and "pa55word" not in r.stdout + r.stderr
    r = cli("secrets", "list")
    assert "DB_PASSWORD" in r.stdout and "pa55word" not in r.stdout
    assert cli("users", "disable", "alice").returncode == 0

    r = cli("audit", "list", "--since", "1h", "--action", "secrets:*", "--output", "json")
    events = json.loads(r.stdout)
    assert [(e["action"], e["resource"], e["user"], e["outcome"]) for e in events] == [
        ("secrets:Create", "secret/DB_PASSWORD", "admin", "allowed")]
    r = cli("audit", "list", "--user", "admin", "--action", "users:*", "--output", "json")
    assert [e["action"] for e in json.loads(r.stdout)] == ["users:Update", "users:Create"]
    assert cli("audit", "list", "--since", "yesterday").returncode == 1
    r = cli("roles", "list")
    assert "data-scientist" in r.stdout and "invoker" in r.stdout


def test_reads_are_audited_only_when_the_setting_is_on(tmp_path: Path) -> None:
    srv = SlipwayServer(tmp_path / "home", env={"SLIPWAY_AUDIT_READS": "true"}).start()
    try:
        with Client(url=srv.url, home=srv.home) as c:
            c.datasets.list()
            actions = [e.action for e in c.audit.list().items]
        assert "datasets:List" in actions and "auth:WhoAmI" not in actions
    finally:
        srv.stop()
