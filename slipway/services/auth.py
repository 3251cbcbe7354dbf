"""Identity and authorization: users, roles, API keys, authentication of a bearer token, policy checks.

API keys look like ``swk_<key id>_<secret>``: the key id is public (shown in lists and in the
audit trail), the secret is 256 random bits. Only the SHA-256 of the whole token is stored;
tokens are compared in constant time. Authenticated callers are cached for a few seconds and
the cache is dropped on every change to users, roles or keys, so a revoke takes effect at once.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.db import Database, utcnow
from slipway.db.models import ApiKey, Role, User
from slipway.errors import AlreadyExists, Conflict, Forbidden, InvalidArgument, NotFound, TooManyRequests, Unauthorized
from slipway.names import check_name
from slipway.schemas.auth import (
    SIGNIN_DESCRIPTION,
    SIGNIN_LIFETIME,
    SIGNIN_POLICY,
    KeyCreated,
    KeyView,
    Page,
    RoleView,
    UserView,
    WhoAmI,
)
from slipway.services.policies import BUILTIN_ROLES, Policy, covers, evaluate, parse_policy

if TYPE_CHECKING:
    from slipway.storage.keyring import KeyRing

__all__ = ["AWS_KEY_ID", "AuthService", "FailureLimiter", "Principal", "parse_duration", "parse_token"]

PREFIX = "swk_"
# An AWS access key (SigV4, slipway.compat): the id is AKIA and 16 base32 characters, the secret 40 characters.
AWS_KEY_ID = re.compile(r"^AKIA[A-Z2-7]{16}$")
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TOKEN = re.compile(r"^swk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_CACHE_TTL = 5.0
_CACHE_GRACE = 2.0  # peek() answers a stale entry this long while one refresh runs
# peek() starts that refresh this long before the entry goes stale, so that a refresh slowed down by a busy
# process (a thread waiting for the GIL its event loop holds) has the grace and this lead to finish before
# callers fall back to the database path all at once. What is answered stays within _CACHE_TTL + _CACHE_GRACE.
_REFRESH_LEAD = 2.0
_LAST_USED_EVERY = 60.0
_DURATION = re.compile(r"^([0-9]+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

ADMIN_ROLE = "admin"

UNAUTHORIZED = (
    "Invalid API key: it is wrong, expired or revoked, or its user is disabled. "
    "Ask an admin for a new key (slipway keys create) and store it with slipway login."
)
SESSION_LIFETIME = "7d"  # of the dashboard session a sign-in link turns into

MISSING = (
    "Missing API key. Send 'Authorization: Bearer <key>'; the CLI and SDK use the credentials file "
    "of the home folder, or a profile stored with `slipway login --url URL --key KEY`."
)


def parse_duration(text: str, field_name: str) -> dt.timedelta:
    """``90s``, ``15m``, ``1h``, ``30d``, ``2w``."""
    m = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not m or not 0 < int(m.group(1)) <= 9999:  # 9999 weeks (191 years) stays inside the calendar
        raise InvalidArgument(
            f"Field {field_name!r} has value {text!r}. Expected a duration of 1 to 9999 units, like 90s, 15m, 1h, "
            "30d or 2w.",
            {"field": field_name, "value": text},
        )
    return dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed token, else None."""
    m = _TOKEN.match(token)
    return (m.group(1), m.group(2)) if m else None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user, the key used, and every policy that must allow a call."""

    user: str
    role: str
    key_id: str
    policies: tuple[Policy, ...]
    expires_at: dt.datetime | None = None
    cached_at: float = field(default_factory=time.monotonic)


class FailureLimiter:
    """Counts failed authentications per bucket (a source address, a key id) in a sliding window.

    Only failures are counted and only failures are refused: a correct key is always verified and
    answered, so nobody can lock others out by sending wrong keys from their address or in their key's
    name (issue #12: ten wrong keys from 127.0.0.1 used to block every caller for a minute).
    """

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def fail(self, *buckets: str) -> tuple[str, int] | None:
        """Record one failure in each bucket; (the first bucket over the limit, seconds to wait) or None."""
        now = time.monotonic()
        over: tuple[str, int] | None = None
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of sources or key ids: forget the oldest state
                self._failures.clear()
            for bucket in buckets:
                q = self._failures.setdefault(bucket, collections.deque())
                while q and now - q[0] > self.window:
                    q.popleft()
                q.append(now)
                while len(q) > self.max_failures + 1:  # enough to know it is over; bounded memory
                    q.popleft()
                if over is None and len(q) > self.max_failures:
                    # Until enough failures leave the window for the next wrong key to get a 401 again.
                    oldest_kept = q[len(q) - self.max_failures]
                    over = (bucket, max(1, int(self.window - (now - oldest_kept)) + 1))
        return over


class AuthService:
    def __init__(self, db: Database, max_failures: int = 10, failure_window: float = 60.0,
                 keyring: Callable[[], KeyRing] | None = None) -> None:
        self.db = db
        self._keyring = keyring  # seals AWS keys' secrets (the server needs them back to check signatures)
        self._aws_cache: dict[str, tuple[Principal, str]] = {}
        self.limiter = FailureLimiter(max_failures, failure_window)
        self._cache: dict[str, Principal] = {}
        self._rejected: dict[str, float] = {}  # digest of a wrong token -> when: a flood of it skips the database
        self._last_used: dict[str, float] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def _changed(self) -> None:
        with self._lock:
            self._cache.clear()
            self._aws_cache.clear()
            self._rejected.clear()  # a re-enabled user's key is right again

    # -- roles -------------------------------------------------------------------------------

    def _role_policy(self, s: Session, name: str) -> Policy:
        if name in BUILTIN_ROLES:
            return BUILTIN_ROLES[name][1]
        row = s.execute(select(Role).where(Role.name == name)).scalar_one_or_none()
        if row is None:
            known = ", ".join([*BUILTIN_ROLES, *s.execute(select(Role.name).order_by(Role.name)).scalars()])
            raise NotFound(f"Role {name!r} not found. Known roles: {known}.", {"field": "role", "value": name})
        return row.policy

    def list_roles(self) -> list[RoleView]:
        out = [RoleView(name=n, description=d, policy=p, builtin=True) for n, (d, p) in BUILTIN_ROLES.items()]
        with self.db.session() as s:
            for r in s.execute(select(Role).order_by(Role.name)).scalars():
                out.append(RoleView(name=r.name, description=r.description, policy=r.policy, builtin=False,
                                    created_at=r.created_at, created_by=r.created_by))
        return out

    def get_role(self, name: str) -> RoleView:
        for r in self.list_roles():
            if r.name == name:
                return r
        with self.db.session() as s:
            self._role_policy(s, name)  # raises NotFound listing the known roles
        raise AssertionError("unreachable")

    def create_role(self, name: str, policy: Any, description: str = "", user: str = "",
                    caller: Principal | None = None) -> RoleView:
        check_name(name, "role")
        doc = parse_policy(policy)
        if name in BUILTIN_ROLES:
            raise AlreadyExists(f"Role {name!r} is built in. Choose another name.", {"field": "name", "value": name})
        self._check_grant(caller, doc, f"create role {name!r}")
        try:
            with self.db.session() as s:
                row = Role(name=name, description=description, policy=doc, created_by=user)
                s.add(row)
                s.flush()
                view = RoleView(name=name, description=description, policy=doc, builtin=False,
                                created_at=row.created_at, created_by=user)
        except IntegrityError:
            raise AlreadyExists(f"Role {name!r} already exists.", {"field": "name", "value": name}) from None
        self._changed()
        return view

    def delete_role(self, name: str) -> RoleView:
        view = self.get_role(name)
        if view.builtin:
            raise Conflict(f"Role {name!r} is built in and cannot be deleted.", {"field": "name", "value": name})
        with self.db.session() as s:
            users = s.execute(select(User.name).where(User.role == name).order_by(User.name)).scalars().all()
            if users:
                raise Conflict(
                    f"Role {name!r} is held by {', '.join(users)}. Give them another role first.",
                    {"field": "name", "value": name, "users": list(users)},
                )
            s.execute(Role.__table__.delete().where(Role.name == name))
        self._changed()
        return view

    # -- users -------------------------------------------------------------------------------

    def _user(self, s: Session, name: str) -> User:
        row = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if row is None:
            raise NotFound(f"User {name!r} not found. Create it with: slipway users create {name} --role viewer",
                           {"field": "user", "value": name})
        return row

    def _user_view(self, s: Session, u: User) -> UserView:
        keys = s.scalar(select(func.count(ApiKey.id)).where(ApiKey.user_id == u.id, ApiKey.revoked_at.is_(None)))
        return UserView(name=u.name, role=u.role, disabled=u.disabled, created_at=u.created_at,
                        created_by=u.created_by, active_keys=keys or 0)

    def _check_grant(self, caller: Principal | None, policy: Policy, what: str) -> None:
        """A caller may only hand out rights it holds itself."""
        if caller is None:
            return
        ok, missing = covers(caller.policies, policy)
        if not ok:
            raise Forbidden(
                f"{caller.user} may not {what}: it would grant {missing}, which the calling key does not have.",
                {"user": caller.user, "missing": missing},
            )

    def _check_over(self, s: Session, caller: Principal | None, target: User, what: str) -> None:
        """A caller may only manage a user (change, disable, enable, its keys) whose rights it holds itself.

        Otherwise anyone allowed ``users:Update`` could demote or disable the admins, and anyone allowed
        ``keys:Create`` could mint keys in an admin's name.
        """
        if caller is None or caller.user == target.name:
            return
        ok, missing = covers(caller.policies, self._role_policy(s, target.role))
        if not ok:
            raise Forbidden(
                f"{caller.user} may not {what}: user {target.name!r} (role {target.role!r}) holds {missing}, "
                "which the calling key does not have. Ask an admin to do it.",
                {"user": caller.user, "target": target.name, "missing": missing},
            )

    @staticmethod
    def _check_not_last_admin(s: Session, target: User, what: str) -> None:
        """Refuse to demote or disable the last enabled admin: nobody could manage users and keys any more."""
        if target.role != ADMIN_ROLE or target.disabled:
            return
        # Lock every enabled admin, in one order (Postgres; SQLite serialises writers with BEGIN IMMEDIATE):
        # of two admins demoting each other at once, the second waits, re-reads, and is refused.
        admins = s.execute(select(User.id).where(User.role == ADMIN_ROLE, User.disabled.is_(False))
                           .order_by(User.id).with_for_update()).scalars().all()
        if not [i for i in admins if i != target.id]:
            raise Conflict(
                f"User {target.name!r} is the last enabled admin: {what} would leave nobody able to manage "
                f"users, keys and roles. Give another user the admin role first (slipway users set-role NAME "
                "admin); if every admin key is lost, run `slipway admin recover` on the server.",
                {"field": "user", "value": target.name, "reason": "last_admin"},
            )

    def create_user(self, name: str, role: str, caller: Principal | None = None) -> UserView:
        check_name(name, "user")
        with self.db.session() as s:
            self._check_grant(caller, self._role_policy(s, role), f"create user {name!r} with role {role!r}")
        try:
            with self.db.session() as s:
                u = User(name=name, role=role, disabled=False, created_by=caller.user if caller else "")
                s.add(u)
                s.flush()
                view = self._user_view(s, u)
        except IntegrityError:
            raise AlreadyExists(f"User {name!r} already exists.", {"field": "name", "value": name}) from None
        return view

    def get_user(self, name: str) -> UserView:
        with self.db.session() as s:
            return self._user_view(s, self._user(s, name))

    def list_users(self, limit: int = 50, offset: int = 0) -> Page[UserView]:
        with self.db.session() as s:
            total = s.scalar(select(func.count(User.id))) or 0
            rows = s.execute(select(User).order_by(User.name).limit(limit).offset(offset)).scalars().all()
            items = [self._user_view(s, u) for u in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[UserView](items=items, total=total, next_page_token=nxt)

    def update_user(self, name: str, role: str | None = None, disabled: bool | None = None,
                    caller: Principal | None = None) -> UserView:
        with self.db.session() as s:
            u = self._user(s, name)
            new_role = role if role is not None and role != u.role else None
            new_disabled = disabled if disabled is not None and disabled != u.disabled else None
            if new_role is not None and caller is not None and caller.user == name:
                raise Forbidden(f"User {name!r} cannot change its own role (from {u.role!r} to {role!r}). "
                                "Ask another admin to do it.",
                                {"field": "role", "value": role, "user": name})
            if new_disabled and caller is not None and caller.user == name:
                raise Conflict(f"User {name!r} cannot disable itself (that would lock it out).",
                               {"field": "disabled", "value": name})
            if new_role is not None or new_disabled is not None:
                self._check_over(s, caller, u, f"change user {name!r}")
            if new_role is not None:
                self._check_grant(caller, self._role_policy(s, new_role), f"give user {name!r} role {new_role!r}")
                if new_role != ADMIN_ROLE:
                    self._check_not_last_admin(s, u, f"giving it role {new_role!r}")
                u.role = new_role
            if new_disabled is not None:
                if new_disabled:
                    self._check_not_last_admin(s, u, "disabling it")
                u.disabled = new_disabled
            s.flush()
            view = self._user_view(s, u)
        self._changed()
        return view

    def user_count(self) -> int:
        with self.db.session() as s:
            return s.scalar(select(func.count(User.id))) or 0

    # -- keys --------------------------------------------------------------------------------

    @staticmethod
    def _key_view(k: ApiKey, user: str) -> KeyView:
        now = utcnow()
        status = "revoked" if k.revoked_at else "expired" if k.expires_at and k.expires_at <= now else "active"
        aws = k.aws_secret is not None
        return KeyView(key_id=k.key_id, prefix=k.key_id if aws else f"{PREFIX}{k.key_id}_", kind="aws" if aws else "api",
                       user=user, description=k.description,
                       policy=k.policy, status=status, created_at=k.created_at, created_by=k.created_by,
                       expires_at=k.expires_at, revoked_at=k.revoked_at, last_used_at=k.last_used_at)

    def create_key(self, user: str, expires: str | None = None, policy: Any = None, description: str = "",
                   caller: Principal | None = None, aws: bool = False) -> KeyCreated:
        """A new key; ``aws`` makes an AWS access key (id AKIA…, 40-character secret) for SigV4-signed calls,
        whose secret is also kept sealed by the master key: the server recomputes signatures with it."""
        doc = parse_policy(policy) if policy is not None else None
        expires_at = utcnow() + parse_duration(expires, "expires") if expires is not None else None
        sealed = None
        if aws:
            key_id = "AKIA" + "".join(secrets.choice(_BASE32) for _ in range(16))
            token = secret = base64.b64encode(secrets.token_bytes(30)).decode()
            sealed = self._aws_keyring().wrap(secret.encode(), b"aws-key:" + key_id.encode())
        else:
            key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
            token = f"{PREFIX}{key_id}_{secret}"
        with self.db.session() as s:
            u = self._user(s, user)
            self._check_over(s, caller, u, f"create a key for {user!r}")
            if caller is not None:
                # The new key's rights are its user's role narrowed by its own policy: covering either is enough.
                role_policy = self._role_policy(s, u.role)
                if doc is None or not covers(caller.policies, role_policy)[0]:
                    self._check_grant(caller, doc or role_policy, f"create a key for {user!r}")
            k = ApiKey(key_id=key_id, user_id=u.id, secret_hash=_hash(token), policy=doc, description=description,
                       created_by=caller.user if caller else "", expires_at=expires_at, aws_secret=sealed)
            s.add(k)
            s.flush()
            view = self._key_view(k, u.name)
        return KeyCreated(**view.model_dump(), key=token)

    def list_keys(self, user: str | None = None, limit: int = 50, offset: int = 0) -> Page[KeyView]:
        with self.db.session() as s:
            q = select(ApiKey, User.name).join(User, ApiKey.user_id == User.id)
            if user:
                q = q.where(User.name == user)
            total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
            rows = s.execute(q.order_by(ApiKey.created_at, ApiKey.id).limit(limit).offset(offset)).all()
            items = [self._key_view(k, name) for k, name in rows]
        nxt = str(offset + limit) if offset + limit < total else None
        return Page[KeyView](items=items, total=total, next_page_token=nxt)

    def revoke_key(self, key_id: str, caller: Principal | None) -> KeyView:
        """Revoke a key at once. ``caller`` (required: None only for the platform's own use) must cover the
        key's user, unless it is the caller's own key."""
        with self.db.session() as s:
            row = s.execute(select(ApiKey, User).join(User, ApiKey.user_id == User.id)
                            .where(ApiKey.key_id == key_id)).first()
            if row is None:
                raise NotFound(f"API key {key_id!r} not found. List keys with: slipway keys list",
                               {"field": "key_id", "value": key_id})
            k, owner = row
            name = owner.name
            self._check_over(s, caller, owner, f"revoke key {key_id} of {name!r}")
            if k.revoked_at is None:
                k.revoked_at = utcnow()
            s.flush()
            view = self._key_view(k, name)
        self._changed()
        return view

    def _aws_keyring(self) -> KeyRing:
        if self._keyring is None:
            raise AssertionError("AuthService needs a keyring for AWS keys")
        return self._keyring()

    def rewrap_aws_keys(self) -> int:
        """Re-wrap every AWS key's secret under the keyring's current master key (master key rotation)."""
        ring = self._aws_keyring()

        def _do(s: Session) -> int:
            n = 0
            for k in s.execute(select(ApiKey).where(ApiKey.aws_secret.is_not(None))).scalars():
                if k.aws_secret is not None and ring.wrapped_by(k.aws_secret) != ring.current:
                    k.aws_secret = ring.rewrap(k.aws_secret, b"aws-key:" + k.key_id.encode(), f"AWS key {k.key_id}")
                    n += 1
            return n

        return self.db.run(_do)

    # -- authentication and authorization -----------------------------------------------------

    def aws_key(self, access_key_id: str, source: str) -> tuple[Principal, str]:
        """(the caller, the secret to check its signature with) for an AWS access key id; 401 or 429 like
        :meth:`authenticate` when the key is unknown, revoked, expired or its user disabled. The caller
        checks the signature and reports a wrong one with :meth:`aws_signature_failed`."""
        now = utcnow()
        cached = self._aws_cache.get(access_key_id)
        if cached is not None and time.monotonic() - cached[0].cached_at < _CACHE_TTL and (
                cached[0].expires_at is None or cached[0].expires_at > now):
            self._touch(access_key_id)
            return cached
        found = self._load_aws(access_key_id, now) if AWS_KEY_ID.match(access_key_id) else None
        if found is None:
            self._failed(source, access_key_id[:32])
        with self._lock:
            if len(self._aws_cache) > 10_000:
                self._aws_cache.clear()
            self._aws_cache[access_key_id] = found
        self._touch(access_key_id)
        return found

    def aws_signature_failed(self, source: str, access_key_id: str) -> NoReturn:
        """Count a wrong signature as a failed authentication (429 past the limit), then raise 401."""
        self._failed(source, access_key_id)

    def _load_aws(self, key_id: str, now: dt.datetime) -> tuple[Principal, str] | None:
        with self.db.session() as s:
            row = s.execute(select(ApiKey, User).join(User, ApiKey.user_id == User.id)
                            .where(ApiKey.key_id == key_id)).first()
            if row is None or row[0].aws_secret is None:
                return None
            k, u = row
            if k.revoked_at is not None or (k.expires_at is not None and k.expires_at <= now) or u.disabled:
                return None
            try:
                role_policy = self._role_policy(s, u.role)
            except NotFound:
                return None
            sealed = k.aws_secret
            policies = (role_policy,) if k.policy is None else (role_policy, k.policy)
            principal = Principal(user=u.name, role=u.role, key_id=k.key_id, policies=policies,
                                  expires_at=k.expires_at)
        secret = self._aws_keyring().unwrap(sealed, b"aws-key:" + key_id.encode(), f"AWS key {key_id}").decode()
        return principal, secret

    def authenticate(self, header: str | None, source: str, fresh: bool = False) -> Principal:
        """The caller behind an ``Authorization`` header; 401 (saying nothing of why) or 429.

        ``fresh``: read the key from the database even if it is cached (the hot path's background refresh).

        A wrong key counts as a failure for its source address and for the key id it claims; past
        ``max_failures`` in the window either way it gets 429 instead of 401. A right key is always
        verified and accepted, whatever the counts.
        """
        if not header:
            raise Unauthorized(MISSING)
        scheme, _, token = header.partition(" ")
        token = token.strip()
        parsed = parse_token(token) if scheme.lower() == "bearer" else None
        digest = _hash(token)
        now = utcnow()
        cached = self._cache.get(digest)
        if not fresh and cached is not None and time.monotonic() - cached.cached_at < _CACHE_TTL:
            if cached.expires_at is None or cached.expires_at > now:
                self._touch(cached.key_id)
                return cached
        rejected = self._rejected.get(digest)
        if rejected is not None and time.monotonic() - rejected < _CACHE_TTL:
            self._failed(source, parsed[0] if parsed else None)
        principal = self._load(parsed, token, now) if parsed else None
        if principal is None:
            with self._lock:
                if len(self._rejected) > 10_000:
                    self._rejected.clear()
                self._rejected[digest] = time.monotonic()
            self._failed(source, parsed[0] if parsed else None)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = principal
        self._touch(principal.key_id)
        return principal

    def _failed(self, source: str, key_id: str | None) -> NoReturn:
        buckets = [f"source:{source}"] + ([f"key:{key_id}"] if key_id else [])
        over = self.limiter.fail(*buckets)
        if over is None:
            raise Unauthorized(UNAUTHORIZED)
        bucket, retry = over
        who = f"from {source}" if bucket.startswith("source:") else f"for key id {key_id}"
        raise TooManyRequests(
            f"Too many failed authentications {who}; try again in {retry} s. A valid key is still accepted.",
            {"retry_after": retry, "source": source, "key_id": key_id},
        )

    def peek(self, header: str | None, source: str) -> Principal | None:
        """The caller behind ``header`` without waiting on the database, or None when unknown here.

        For the invocation hot path, which must not block its event loop on a lookup: None sends the
        caller through :meth:`authenticate`. One background refresh re-reads a cached key from
        ``_REFRESH_LEAD`` seconds before its time to live; past it, the entry is still answered for a
        short grace while that refresh runs (so a busy key does not send every caller in flight to the
        database at once); a refresh that finds the key revoked, expired or disabled drops it. Changes
        made through this process clear the cache at once. Throttling never applies to a key found here:
        like :meth:`authenticate`, it refuses only wrong keys.
        """
        if not header:
            return None
        digest = _hash(header.partition(" ")[2].strip())
        cached = self._cache.get(digest)
        if cached is None:
            return None
        age = time.monotonic() - cached.cached_at
        if age >= _CACHE_TTL + _CACHE_GRACE or (cached.expires_at is not None and cached.expires_at <= utcnow()):
            return None
        last = self._last_used.get(cached.key_id)
        if age >= _CACHE_TTL - _REFRESH_LEAD or last is None or time.monotonic() - last >= _LAST_USED_EVERY:
            self._refresh(digest, header, source)
        return cached

    def _refresh(self, digest: str, header: str, source: str) -> None:
        with self._lock:
            if digest in self._refreshing:
                return
            self._refreshing.add(digest)

        def run() -> None:
            try:
                self.authenticate(header, source, fresh=True)  # reads the database
            except Exception:  # revoked, expired, disabled, or the database is away: not cached any more
                with self._lock:
                    self._cache.pop(digest, None)
            finally:
                with self._lock:
                    self._refreshing.discard(digest)

        threading.Thread(target=run, name="auth-refresh", daemon=True).start()

    def _load(self, parsed: tuple[str, str], token: str, now: dt.datetime) -> Principal | None:
        with self.db.session() as s:
            row = s.execute(select(ApiKey, User).join(User, ApiKey.user_id == User.id)
                            .where(ApiKey.key_id == parsed[0])).first()
            # Hash and compare even when the key id is unknown, so timing says nothing about it.
            stored = row[0].secret_hash if row else "0" * 64
            if not hmac.compare_digest(stored, _hash(token)) or row is None:
                return None
            k, u = row
            if k.revoked_at is not None or (k.expires_at is not None and k.expires_at <= now) or u.disabled:
                return None
            try:
                role_policy = self._role_policy(s, u.role)
            except NotFound:
                return None
            policies = (role_policy,) if k.policy is None else (role_policy, k.policy)
            return Principal(user=u.name, role=u.role, key_id=k.key_id, policies=policies, expires_at=k.expires_at)

    def _touch(self, key_id: str) -> None:
        """Record last use, at most once a minute per key, so reads do not turn into writes."""
        now = time.monotonic()
        last = self._last_used.get(key_id)
        if last is not None and now - last < _LAST_USED_EVERY:
            return
        self._last_used[key_id] = now
        self.db.run(lambda s: s.execute(
            ApiKey.__table__.update().where(ApiKey.key_id == key_id).values(last_used_at=utcnow())))

    @staticmethod
    def authorize(principal: Principal, action: str, resource: str) -> None:
        if not evaluate(principal.policies, action, resource):
            raise Forbidden(
                f"User {principal.user!r} (key {principal.key_id}) may not {action} on {resource}. "
                "Ask an admin for a role or key that allows it.",
                {"action": action, "resource": resource, "user": principal.user, "key_id": principal.key_id},
            )

    def authorize_user(self, user: str, action: str, resource: str, what: str = "", key_id: str | None = None) -> None:
        """Check ``action`` on ``resource`` for ``user`` acting without a request (a pipeline run acting as its
        owner): the user must exist, not be disabled, and its role must allow it; with ``key_id`` (the key the
        owner set the run up with) that key must belong to the user and not be revoked, and its policy
        (narrower than the role) must allow it too. Raises Forbidden naming the action, the resource
        and ``what`` acts."""
        who = what or f"User {user!r}"
        with self.db.session() as s:
            row = s.execute(select(User).where(User.name == user)).scalar_one_or_none() if user else None
            if row is None or row.disabled:
                state = "has no owner" if not user else ("was deleted" if row is None else "is disabled")
                raise Forbidden(f"{who} may not {action} on {resource}: its owner {state}. Ask an admin to "
                                "enable the owner, or re-create the pipeline or trigger as an active user.",
                                {"action": action, "resource": resource, "user": user})
            try:
                policy = self._role_policy(s, row.role)
            except NotFound:
                policy = None
            key = s.execute(select(ApiKey).where(ApiKey.key_id == key_id)).scalar_one_or_none() if key_id else None
        if policy is None or not evaluate((policy,), action, resource):
            raise Forbidden(f"{who} may not {action} on {resource}: the role {row.role!r} of its owner {user!r} "
                            "does not allow it. Ask an admin for a role that allows it.",
                            {"action": action, "resource": resource, "user": user, "role": row.role})
        if not key_id:
            return
        details = {"action": action, "resource": resource, "user": user, "key_id": key_id}
        # Revoking the key stops what it set up; its expiry ends its calls, not the runs it set up (a dashboard
        # session's key expires within hours), which keep acting within its policy.
        state = ("no longer exists" if key is None or key.user_id != row.id else "was revoked"
                 if key.revoked_at is not None else None)
        if state:
            raise Forbidden(f"{who} may not {action} on {resource}: the key {key_id} its owner {user!r} set it up "
                            f"with {state}. Re-create the pipeline, trigger or run with an active key.", details)
        if key is not None and key.policy is not None and not evaluate((key.policy,), action, resource):
            raise Forbidden(f"{who} may not {action} on {resource}: the policy of the key {key_id} its owner "
                            f"{user!r} set it up with does not allow it. Ask an admin for a key that allows it.",
                            details)

    @staticmethod
    def whoami(principal: Principal) -> WhoAmI:
        return WhoAmI(user=principal.user, role=principal.role, key_id=principal.key_id,
                      restricted=len(principal.policies) > 1)

    def recover_admin(self) -> tuple[KeyCreated, list[str]]:
        """For ``slipway admin recover`` (someone with the home folder, no caller): user ``admin`` exists,
        is enabled and has the admin role, and gets a new key. Returns the key and what was changed."""
        changes: list[str] = []
        with self.db.session() as s:
            u = s.execute(select(User).where(User.name == "admin").with_for_update()).scalar_one_or_none()
            if u is None:
                s.add(User(name="admin", role=ADMIN_ROLE, disabled=False, created_by="slipway admin recover"))
                changes.append("created user 'admin'")
            else:
                if u.role != ADMIN_ROLE:
                    changes.append(f"role {u.role!r} -> {ADMIN_ROLE!r}")
                    u.role = ADMIN_ROLE
                if u.disabled:
                    changes.append("enabled")
                    u.disabled = False
        self._changed()
        key = self.create_key("admin", description="created by `slipway admin recover`")
        return key, changes

    def create_signin_link(self, user: str) -> KeyCreated:
        """A single-use key, valid for SIGNIN_LIFETIME and good for nothing but signing in to the dashboard.
        Links used or expired before are deleted, so that one per `slipway up` does not pile up in the key list."""
        now = utcnow()
        self.db.run(lambda s: s.execute(ApiKey.__table__.delete().where(
            ApiKey.description == SIGNIN_DESCRIPTION, ApiKey.expires_at.is_not(None),
            (ApiKey.revoked_at.is_not(None)) | (ApiKey.expires_at <= now))))
        return self.create_key(user, expires=SIGNIN_LIFETIME, policy=SIGNIN_POLICY, description=SIGNIN_DESCRIPTION)

    def dashboard_session(self, token: str, source: str) -> tuple[Principal, str]:
        """Sign in to the dashboard with ``token``: (the caller, the key its session cookie holds).

        An ordinary key is kept as it is. A sign-in link's key is revoked in the same transaction that
        checks it was still unused (so two browsers racing with one link get one session), and the session
        gets a new key of the same user for SESSION_LIFETIME."""
        principal = self.authenticate(f"Bearer {token}", source)

        def _redeem(s: Session) -> str | None:
            k = s.execute(select(ApiKey).where(ApiKey.key_id == principal.key_id)).scalar_one()
            if k.description != SIGNIN_DESCRIPTION or k.policy != SIGNIN_POLICY:
                return None
            used = s.execute(ApiKey.__table__.update().where(ApiKey.key_id == k.key_id, ApiKey.revoked_at.is_(None))
                             .values(revoked_at=utcnow()))
            return "used" if used.rowcount != 1 else "redeemed"

        outcome = self.db.run(_redeem)
        if outcome is None:
            return principal, token
        self._changed()
        if outcome == "used":
            self.limiter.fail(source)
            raise Unauthorized("This sign-in link was already used. Print a new one with `slipway keys signin-link`.")
        session = self.create_key(principal.user, expires=SESSION_LIFETIME,
                                  description="dashboard session (from a sign-in link)")
        return principal, session.key

    def bootstrap(self) -> KeyCreated | None:
        """On a new platform: the ``admin`` user and its first key (returned once, to be stored)."""
        if self.user_count():
            return None
        try:
            self.create_user("admin", "admin")
        except AlreadyExists:  # another process bootstrapped at the same moment
            return None
        return self.create_key("admin", description="created by the first `slipway up`")
