"""``slipway admin recover``: admin access back, for whoever can read the home folder.

Opens the home's database directly, as ``slipway up`` does, with or without a running server. It
needs neither the master key nor the artifact store, so it never creates a master key of its own
(a server given ``SLIPWAY_MASTER_KEY`` keeps its key in the environment only).
"""

from __future__ import annotations

from slipway.credentials import LOCAL, save_profile
from slipway.db import Database
from slipway.home import secure_home
from slipway.schemas.auth import KeyCreated
from slipway.services.audit import AuditService
from slipway.services.auth import AuthService
from slipway.settings import Settings

__all__ = ["recover_admin"]


def recover_admin(settings: Settings, by: str) -> KeyCreated:
    """User ``admin`` enabled with the admin role and a new key, stored in the credentials file and
    recorded in the audit trail (``users:Recover``; ``by`` says who: OS user and host)."""
    secure_home(settings.home, settings.database_url)
    db = Database(settings.database_url)
    try:
        db.migrate()
        created, changes = AuthService(db).recover_admin()
        save_profile(settings.credentials_file, LOCAL, created.key, user="admin")
        AuditService(db).record(
            user="admin", key_id=created.key_id, action="users:Recover", resource="user/admin", method="CLI",
            path="slipway admin recover", source=by, request_id="", outcome="allowed", status=201,
            message=f"Recovered by {by} with access to the home folder: "
                    f"{', '.join([*changes, f'new key {created.key_id}'])}.",
        )
    finally:
        db.dispose()
    return created
