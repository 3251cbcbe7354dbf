"""AWS access keys: issued like any key, secret sealed by the master key, revoked like any key."""

from __future__ import annotations

import pytest

from slipway.errors import Unauthorized
from slipway.services import Platform
from slipway.services.auth import AWS_KEY_ID


def test_aws_key_is_bound_to_its_user_sealed_and_revocable(platform: Platform) -> None:
    auth = platform.auth
    auth.create_user("carol", "data-scientist")
    created = auth.create_key("carol", aws=True, description="boto3")
    assert AWS_KEY_ID.match(created.key_id) and len(created.key_id) == 20 and len(created.key) == 40
    assert created.kind == "aws" and created.prefix == created.key_id
    principal, secret = auth.aws_key(created.key_id, "127.0.0.1")
    assert secret == created.key and (principal.user, principal.role, principal.key_id) == (
        "carol", "data-scientist", created.key_id)
    from sqlalchemy import select

    from slipway.db.models import ApiKey
    with platform.db.session() as s:
        sealed = s.execute(select(ApiKey.aws_secret).where(ApiKey.key_id == created.key_id)).scalar_one()
    assert created.key.encode() not in sealed  # encrypted at rest
    assert platform.rotate_master_key().rewrapped_secrets == 1
    assert auth.aws_key(created.key_id, "127.0.0.1")[1] == created.key  # still readable after rotation
    [listed] = [k for k in auth.list_keys("carol").items]
    assert listed.kind == "aws" and listed.status == "active"
    auth.revoke_key(created.key_id, None)
    with pytest.raises(Unauthorized):
        auth.aws_key(created.key_id, "127.0.0.1")


def test_unknown_or_bearer_key_ids_are_not_aws_keys(platform: Platform) -> None:
    auth = platform.auth
    bearer = auth.create_key("admin") if auth.user_count() else None
    for key_id in ["AKIAAAAAAAAAAAAAAAAA", "not-a-key", *([bearer.key_id] if bearer else [])]:
        with pytest.raises(Unauthorized):
            auth.aws_key(key_id, "10.0.0.1")
