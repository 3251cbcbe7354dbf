"""Secrets through the service: encrypted in the database, resolved by name, redacted from logs."""

from __future__ import annotations

import pytest

from slipway.errors import NotFound
from slipway.services import Platform
from slipway.services.secrets import redact


def test_resolve_and_never_stored_in_plain_text(platform: Platform) -> None:
    platform.secrets.set("DB_PASSWORD", "hunter2-very-secret", user="admin")
    platform.secrets.set("TOKEN", "tok-abc")
    view, created = platform.secrets.set("TOKEN", "tok-xyz")
    assert not created and view.name == "TOKEN"
    assert platform.secrets.resolve(["DB_PASSWORD", "TOKEN"]) == {"DB_PASSWORD": "hunter2-very-secret",
                                                                 "TOKEN": "tok-xyz"}
    with pytest.raises(NotFound, match="MISSING, OTHER"):
        platform.secrets.resolve(["TOKEN", "MISSING", "OTHER"])
    platform.close()
    raw = b"".join(p.read_bytes() for p in platform.settings.home.glob("slipway.db*"))
    assert b"hunter2" not in raw and b"tok-xyz" not in raw


def test_rotation_keeps_secrets_readable(platform: Platform) -> None:
    platform.secrets.set("A", "value-a")
    result = platform.rotate_master_key()
    assert result.rewrapped_secrets == 1
    assert platform.secrets.resolve(["A"]) == {"A": "value-a"}


def test_redact() -> None:
    log = "connecting with hunter2 and token tok-xyz; hunter2 again\n"
    assert redact(log, {"A": "hunter2", "B": "tok-xyz", "C": ""}) == "connecting with *** and token ***; *** again\n"
    assert redact("abcd", ["abc", "abcd"]) == "***"
