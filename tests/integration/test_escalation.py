"""No privilege escalation, through a real server: a caller grants or manages only what it holds itself,
never changes its own role, and the last enabled admin stays."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from slipway.client import Client
from slipway.errors import Conflict, Forbidden
from tests.support.servers import SlipwayServer


def _role_with(client: Client, name: str, *actions: str) -> None:
    client.roles.create(name, {"Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": ["*"]}]})


def _key_of(client: Client, user: str, role: str) -> str:
    client.users.create(user, role)
    return client.keys.create(user=user).key


def test_users_update_alone_cannot_demote_or_disable_the_admin(server: SlipwayServer, client: Client) -> None:
    """The attack of issue #12: a role allowed only users:Update tries to take the admin out."""
    _role_with(client, "user-editor", "users:Update")
    key = _key_of(client, "mallory", "user-editor")
    with server.http(api_key=key) as http:
        demote = http.patch("/api/v1/users/admin", json={"role": "user-editor"})
        disable = http.patch("/api/v1/users/admin", json={"disabled": True})
        promote = http.patch("/api/v1/users/mallory", json={"role": "admin"})
    assert demote.status_code == 403, demote.text
    assert "user 'admin' (role 'admin') holds * on *" in demote.json()["error"]["message"]
    assert disable.status_code == 403, disable.text
    assert promote.status_code == 403, promote.text
    assert "cannot change its own role" in promote.json()["error"]["message"]
    # The admin still is one, and still works.
    admin = client.users.get("admin")
    assert (admin.role, admin.disabled) == ("admin", False)
    assert client.whoami().role == "admin"
    assert client.users.get("mallory").role == "user-editor"
    denied = [(e.action, e.resource, e.status) for e in client.audit.list(user="mallory", outcome="denied").items]
    assert ("users:Update", "user/admin", 403) in denied


def test_a_caller_manages_only_users_and_keys_it_covers(server: SlipwayServer, client: Client) -> None:
    _role_with(client, "helpdesk", "users:*", "keys:*", "roles:*", "datasets:*")
    _role_with(client, "reader", "datasets:Get")
    helpdesk = _key_of(client, "hana", "helpdesk")
    viewer_key = _key_of(client, "vic", "viewer")
    admin_key_id = client.whoami().key_id
    with Client(url=server.url, api_key=helpdesk) as c:
        # Within its rights: fine.
        assert c.users.create("rudy", "reader").role == "reader"
        reader_key = c.keys.create(user="rudy")
        assert c.users.disable("rudy").disabled and not c.users.enable("rudy").disabled
        assert c.keys.revoke(reader_key.key_id).status == "revoked"
        # Beyond them: refused, naming what is missing.
        with pytest.raises(Forbidden, match=r"would grant \* on \*"):
            c.users.update("rudy", role="admin")
        with pytest.raises(Forbidden, match=r"would grant"):
            c.users.create("eve", "data-scientist")
        with pytest.raises(Forbidden, match=r"user 'vic' \(role 'viewer'\) holds"):
            c.users.disable("vic")  # viewer may read models, which helpdesk may not
        with pytest.raises(Forbidden, match=r"user 'admin'"):
            c.keys.create(user="admin", policy={"Statement": [{"Effect": "Allow", "Action": ["datasets:Get"],
                                                               "Resource": ["*"]}]})
        with pytest.raises(Forbidden, match=r"revoke key .* of 'admin'"):
            c.keys.revoke(admin_key_id)
        with pytest.raises(Forbidden, match=r"create role 'superuser'.*would grant \* on \*"):
            c.roles.create("superuser", {"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]})
        with pytest.raises(Forbidden, match="cannot change its own role"):
            c.users.update("hana", role="reader")  # even a narrower one: someone else decides
    with Client(url=server.url, api_key=viewer_key) as v:
        assert v.whoami().role == "viewer"
    assert client.users.get("hana").role == "helpdesk"
    assert client.keys.list(user="admin").items[0].status == "active"


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(server: SlipwayServer, client: Client) -> None:
    # A custom role with every right may manage admins, but not remove the last enabled one.
    _role_with(client, "root", "*")
    root = _key_of(client, "rooty", "root")
    second = _key_of(client, "ada", "admin")
    client.users.disable("ada")  # a disabled admin does not count
    with server.http(api_key=root) as http:
        for body in ({"role": "viewer"}, {"disabled": True}):
            r = http.patch("/api/v1/users/admin", json=body)
            assert r.status_code == 409, r.text
            err = r.json()["error"]
            assert err["code"] == "conflict" and err["details"]["reason"] == "last_admin"
            assert "'admin' is the last enabled admin" in err["message"]
            assert "slipway admin recover" in err["message"]
    assert client.users.get("admin").role == "admin" and client.whoami().role == "admin"
    # With a second enabled admin, either may go, but never both.
    client.users.enable("ada")
    with Client(url=server.url, api_key=root) as c:
        assert c.users.update("admin", role="viewer").role == "viewer"
        with pytest.raises(Conflict, match="'ada' is the last enabled admin"):
            c.users.disable("ada")
    with Client(url=server.url, api_key=second) as ada:
        with pytest.raises(Forbidden, match="cannot change its own role"):
            ada.users.update("ada", role="viewer")
        with pytest.raises(Conflict, match="cannot disable itself"):
            ada.users.disable("ada")
        assert ada.users.update("admin", role="admin").role == "admin"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    return subprocess.run([sys.executable, "-m", "slipway.cli.main", "--home", str(home), *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_admin_recover_restores_a_locked_out_admin(sqlite_server: SlipwayServer) -> None:
    server = sqlite_server
    old_key = server.admin_key
    with Client(url=server.url, api_key=old_key) as admin:
        admin.users.create("ada", "admin")
        ada_key = admin.keys.create(user="ada").key
    # Locked out: the admin demoted and disabled, its key revoked; then ada loses hers too.
    with Client(url=server.url, api_key=ada_key) as ada:
        ada.users.update("admin", role="viewer")
        ada.users.disable("admin")
        ada.keys.revoke(old_key.split("_")[1])
        ada.keys.revoke(ada.whoami().key_id)

    # With the server running: the printed key works at once, and the home's CLI uses it.
    r = _cli(server.home, "admin", "recover")
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert key.startswith("swk_") and "not shown again" in r.stderr
    with Client(url=server.url, api_key=key) as c:
        me = c.whoami()
        assert (me.user, me.role) == ("admin", "admin")
        assert c.users.get("admin").disabled is False
        events = c.audit.list(action="users:Recover").items
    assert server.admin_key == key
    assert stat.S_IMODE((server.home / "credentials").stat().st_mode) == 0o600
    [event] = events
    assert (event.user, event.key_id, event.resource, event.outcome) == ("admin", me.key_id, "user/admin", "allowed")
    assert "role 'viewer' -> 'admin', enabled, new key" in event.message and "(local)" in event.message
    assert key not in event.message
    r = _cli(server.home, "--url", server.url, "users", "list", "--output", "json")
    assert r.returncode == 0 and "ada" in r.stdout

    # Without a server: the key is written to the home, and works once the server is back.
    server.stop()
    r = _cli(server.home, "admin", "recover", "--output", "json")
    assert r.returncode == 0, r.stderr
    offline = json.loads(r.stdout)
    assert offline["user"] == "admin" and offline["key"].startswith("swk_")
    server.start()
    with Client(url=server.url, home=server.home) as c:
        assert c.whoami().key_id == offline["key_id"]
        assert len(c.audit.list(action="users:Recover").items) == 2


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_home_is_private_from_the_start_and_older_homes_are_fixed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    srv = SlipwayServer(home).start()
    try:
        with Client(url=srv.url, home=home) as c:
            c.secrets.set("TOKEN", "x")  # a write: the -wal file exists
        assert _mode(home) == 0o700
        private = ["slipway.db", "slipway.db-wal", "slipway.db-shm", "credentials", "master.key"]
        assert {n: _mode(home / n) for n in private} == dict.fromkeys(private, 0o600)
    finally:
        srv.stop()
    # An older home, opened up by hand or an old version: tightened on the next start.
    os.chmod(home, 0o755)
    for name in ("slipway.db", "credentials", "master.key"):
        os.chmod(home / name, 0o644)
    srv.start()
    try:
        assert _mode(home) == 0o700
        assert {n: _mode(home / n) for n in ("slipway.db", "credentials", "master.key")} == \
            dict.fromkeys(("slipway.db", "credentials", "master.key"), 0o600)
        for extra in ("slipway.db-wal", "slipway.db-shm"):
            if (home / extra).exists():
                assert _mode(home / extra) == 0o600
    finally:
        srv.stop()


def test_two_admins_demoted_at_once_leave_one(server: SlipwayServer, client: Client) -> None:
    _role_with(client, "root", "*")
    root = _key_of(client, "rooty", "root")
    _key_of(client, "ada", "admin")
    barrier = threading.Barrier(2)

    def demote(name: str) -> int:
        with server.http(api_key=root) as http:
            barrier.wait()
            return http.patch(f"/api/v1/users/{name}", json={"role": "viewer"}).status_code

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(pool.map(demote, ["admin", "ada"]))
    assert codes == [200, 409]
    with Client(url=server.url, api_key=root) as c:
        assert len([u for u in c.users.list().items if u.role == "admin" and not u.disabled]) == 1
