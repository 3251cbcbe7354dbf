"""Access-control shapes on the wire: users, keys, roles, audit events, secrets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from slipway.names import NAME_SCHEMA
from slipway.schemas.common import Page

__all__ = [
    "ACTION_PATTERN", "POLICY_SCHEMA", "RESOURCE_PATTERN",
    "AuditCountView", "AuditEventView", "KeyCreate", "KeyCreated", "KeyView", "Page", "RoleCreate", "RoleView",
    "RotateResult", "SIGNIN_DESCRIPTION", "SIGNIN_LIFETIME", "SIGNIN_POLICY", "SecretPut", "SecretView",
    "UserCreate", "UserUpdate", "UserView", "WhoAmI", "signin_url",
]

# What slipway.services.policies.parse_policy accepts (it compiles these patterns), as JSON Schema for the
# OpenAPI document of role and key bodies.
ACTION_PATTERN = r"^(\*|[a-z*?][a-z0-9*?-]*:[A-Za-z*?][A-Za-z0-9*?]*)$"
RESOURCE_PATTERN = r"^[A-Za-z0-9*?][A-Za-z0-9._:@=+*?/-]{0,254}$"


def _one_or_many(pattern: str) -> dict[str, Any]:
    item = {"type": "string", "pattern": pattern}
    return {"anyOf": [item, {"type": "array", "items": item, "minItems": 1}]}


_STATEMENT = {"type": "object", "required": ["Effect", "Action", "Resource"], "additionalProperties": False,
              "properties": {"Sid": {}, "Effect": {"enum": ["Allow", "Deny"]},
                             "Action": _one_or_many(ACTION_PATTERN), "Resource": _one_or_many(RESOURCE_PATTERN)}}
POLICY_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["Statement"], "additionalProperties": False,
    "description": 'A policy: {"Statement": [{"Effect": "Allow" or "Deny", "Action": [...], "Resource": [...]}]}.',
    "properties": {"Version": {}, "Statement": {"anyOf": [_STATEMENT, {"type": "array", "items": _STATEMENT,
                                                                       "minItems": 1}]}},
}
DURATION_PATTERN = r"^\s*0*[1-9][0-9]{0,3}\s*[smhdw]\s*$"  # slipway.services.auth.parse_duration


class UserCreate(BaseModel):
    name: str = Field(json_schema_extra=NAME_SCHEMA)
    role: str = Field(description="admin, data-scientist, viewer, invoker or a custom role.",
                      json_schema_extra=NAME_SCHEMA)


class UserUpdate(BaseModel):
    role: str | None = None
    disabled: bool | None = Field(default=None, strict=True)


class UserView(BaseModel):
    name: str
    role: str
    disabled: bool
    created_at: dt.datetime
    created_by: str
    active_keys: int = 0


# A dashboard sign-in link (`slipway up`, `slipway keys signin-link`) holds a key made with these: it can do
# nothing through the API (an explicit Deny of everything), lives minutes, and the dashboard's sign-in trades it
# once for a session key of the same user (AuthService.dashboard_session). Shared by the server and the SDK.
SIGNIN_DESCRIPTION = "one-time dashboard sign-in link"
SIGNIN_POLICY: dict[str, Any] = {"Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"]}]}
SIGNIN_LIFETIME = "15m"


class KeyCreate(BaseModel):
    user: str | None = Field(default=None, description="Owner of the key (default: the caller).")
    expires: str | None = Field(default=None, description="Lifetime such as 30d, 12h or 90m; none means no expiry.",
                                json_schema_extra={"pattern": DURATION_PATTERN})
    policy: dict[str, Any] | None = Field(default=None, description="A narrower policy than the user's role.",
                                          json_schema_extra={"anyOf": [POLICY_SCHEMA, {"type": "null"}]})
    description: str = Field(default="", max_length=500)
    aws: bool = Field(default=False, strict=True,
                      description="An AWS access key (id AKIA…, secret shown once) for boto3 and the SageMaker SDK.")


class KeyView(BaseModel):
    key_id: str
    prefix: str
    kind: str = Field(default="api", description="api (a bearer key) or aws (an AWS access key for SigV4).")
    user: str
    description: str
    policy: dict[str, Any] | None
    status: str  # active | expired | revoked
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None


class KeyCreated(KeyView):
    key: str = Field(description="The full API key (of an AWS key: its secret access key; key_id is the access key "
                                 "id). Shown once.")


class RoleCreate(BaseModel):
    name: str = Field(json_schema_extra=NAME_SCHEMA)
    policy: dict[str, Any] = Field(json_schema_extra=POLICY_SCHEMA)
    description: str = Field(default="", max_length=2000)


class RoleView(BaseModel):
    name: str
    description: str
    policy: dict[str, Any]
    builtin: bool
    created_at: dt.datetime | None = None
    created_by: str = ""


class AuditEventView(BaseModel):
    id: int
    time: dt.datetime
    user: str
    key_id: str
    action: str
    resource: str
    method: str
    path: str
    source: str
    request_id: str
    outcome: str
    status: int
    message: str


class AuditCountView(BaseModel):
    day: str
    user: str
    action: str
    resource: str
    count: int


class SecretPut(BaseModel):
    value: str = Field(min_length=1, max_length=65536)


class SecretView(BaseModel):
    name: str
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    updated_by: str


class WhoAmI(BaseModel):
    user: str
    role: str
    key_id: str
    restricted: bool = Field(description="The key carries a policy narrower than the role.")


class RotateResult(BaseModel):
    master_key: str = Field(description="Fingerprint of the new master key (not the key).")
    rewrapped_objects: int
    rewrapped_secrets: int


def signin_url(base_url: str, key: str) -> str:
    """The dashboard link for a sign-in key. The key rides in the fragment, which browsers never send to a
    server, so it stays out of access logs and proxies; the sign-in page posts it once."""
    return f"{base_url.rstrip('/')}/ui/login#signin={key}"
