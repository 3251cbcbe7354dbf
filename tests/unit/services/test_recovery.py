"""`slipway admin recover` on a home whose database has no admin at all (never started, or admin gone)."""

from __future__ import annotations

import stat

from slipway.credentials import LOCAL, load
from slipway.db import Database
from slipway.services.auth import AuthService
from slipway.services.recovery import recover_admin
from slipway.settings import Settings


def test_recover_creates_the_admin_and_needs_no_master_key(settings: Settings) -> None:
    created = recover_admin(settings, by="tester@host (local)")
    assert load(settings.credentials_file)[LOCAL]["api_key"] == created.key
    assert stat.S_IMODE(settings.home.stat().st_mode) == 0o700
    assert not settings.master_key_file.exists()  # the database alone was opened
    db = Database(settings.database_url)
    try:
        principal = AuthService(db).authenticate(f"Bearer {created.key}", "127.0.0.1")
        assert (principal.user, principal.role) == ("admin", "admin")
    finally:
        db.dispose()
