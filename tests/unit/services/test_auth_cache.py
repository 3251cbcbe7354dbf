"""The authentication cache the invocation hot path reads: never a database wait, never a stale grant for long."""

from __future__ import annotations

import time

import pytest

from slipway.services import Platform
from slipway.services import auth as auth_module
from slipway.services.auth import AuthService
from tests.support.waiting import wait_for


def test_peek_knows_only_what_authenticate_cached(platform: Platform) -> None:
    auth = platform.auth
    auth.create_user("alice", "invoker")
    key = auth.create_key("alice").key
    header = f"Bearer {key}"
    assert auth.peek(header, "127.0.0.1") is None  # never seen: the caller takes the full path
    assert auth.peek(None, "127.0.0.1") is None
    assert auth.peek("Bearer swk_nope_nope", "127.0.0.1") is None
    principal = auth.authenticate(header, "127.0.0.1")
    assert auth.peek(header, "127.0.0.1") == principal
    auth.revoke_key(principal.key_id, None)  # a change through this process empties the cache at once
    assert auth.peek(header, "127.0.0.1") is None


def test_a_stale_entry_is_refreshed_once_and_dropped_when_revoked_elsewhere(platform: Platform,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_module, "_CACHE_TTL", 0.2)
    monkeypatch.setattr(auth_module, "_CACHE_GRACE", 30.0)
    auth = platform.auth
    auth.create_user("bob", "invoker")
    key = auth.create_key("bob").key
    header = f"Bearer {key}"
    first = auth.authenticate(header, "127.0.0.1")
    time.sleep(0.3)
    # Stale: still answered (no caller waits on the database), while one refresh re-reads the key.
    assert auth.peek(header, "127.0.0.1") == first
    wait_for(lambda: auth.peek(header, "127.0.0.1") is not None
             and auth.peek(header, "127.0.0.1").cached_at > first.cached_at, timeout=10)  # type: ignore[union-attr]

    # Another server process on the same database revokes the key: the next refresh drops it.
    other = AuthService(platform.db)
    other.revoke_key(first.key_id, None)
    time.sleep(0.3)
    auth.peek(header, "127.0.0.1")  # stale again: starts the refresh, which finds the key revoked
    wait_for(lambda: auth.peek(header, "127.0.0.1") is None, timeout=10)


def test_past_the_grace_a_stale_entry_is_not_answered(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth_module, "_CACHE_TTL", 0.05)
    monkeypatch.setattr(auth_module, "_CACHE_GRACE", 0.05)
    auth = platform.auth
    auth.create_user("carol", "invoker")
    header = f"Bearer {auth.create_key('carol').key}"
    auth.authenticate(header, "127.0.0.1")
    time.sleep(0.2)
    assert auth.peek(header, "127.0.0.1") is None


def test_a_busy_key_is_re_read_before_it_goes_stale(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hot path's refresh starts ahead of the time to live (a slow refresh has the lead and the grace to
    finish), and it reads the database even though the entry is not stale yet."""
    monkeypatch.setattr(auth_module, "_CACHE_TTL", 30.0)
    monkeypatch.setattr(auth_module, "_REFRESH_LEAD", 29.9)
    auth = platform.auth
    auth.create_user("dan", "invoker")
    header = f"Bearer {auth.create_key('dan').key}"
    first = auth.authenticate(header, "127.0.0.1")
    time.sleep(0.2)
    assert auth.peek(header, "127.0.0.1") is first  # answered from memory; the refresh runs meanwhile
    wait_for(lambda: auth.peek(header, "127.0.0.1").cached_at > first.cached_at, timeout=10)  # type: ignore[union-attr]
