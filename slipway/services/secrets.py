"""Secrets: values encrypted at rest (a data key per secret, wrapped by the master key), never returned.

Only the platform itself reads a value back, through ``resolve`` (training jobs get their
secrets by name); ``redact`` replaces any such value found in captured logs with ``***``.
"""

from __future__ import annotations

import re
import secrets as _random
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from slipway.db import Database, utcnow
from slipway.db.models import Secret
from slipway.errors import InvalidArgument, NotFound
from slipway.names import check_name
from slipway.schemas.auth import SecretView
from slipway.storage.keyring import DecryptionFailed, KeyRing

__all__ = ["MASK", "SecretService", "env_name", "job_env_names", "redact"]

MASK = "***"
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = ("SM_", "SLIPWAY_")  # the job contract's own variables


def env_name(name: str) -> str:
    """The environment variable a job gets a secret in: its name, with '-' and '.' as '_'."""
    return name.replace("-", "_").replace(".", "_")


def job_env_names(names: Iterable[str]) -> dict[str, str]:
    """Secret name -> environment variable for a job's secrets; 400 naming a name that cannot be one."""
    out: dict[str, str] = {}
    for name in names:
        check_name(name, "secret")
        env = env_name(name)
        if not _ENV.match(env) or env.upper().startswith(_RESERVED_ENV):
            raise InvalidArgument(
                f"Secret {name!r} cannot be passed to a job: its environment variable {env!r} would "
                "start with a digit, SM_ or SLIPWAY_. Store the value under another name (slipway secrets set).",
                {"field": "secrets", "value": name},
            )
        clash = next((n for n, e in out.items() if e == env and n != name), None)
        if clash is not None:
            raise InvalidArgument(
                f"Secrets {clash!r} and {name!r} would both be the environment variable {env!r}. Pass one.",
                {"field": "secrets", "value": name},
            )
        out[name] = env
    return out


def redact(text: str, values: Iterable[str] | Mapping[str, str]) -> str:
    """``text`` with every occurrence of each secret value replaced by ``***`` (longest first)."""
    vals = values.values() if isinstance(values, Mapping) else values
    for v in sorted({v for v in vals if v}, key=len, reverse=True):
        text = text.replace(v, MASK)
    return text


def _view(r: Secret) -> SecretView:
    return SecretView(name=r.name, created_at=r.created_at, created_by=r.created_by, updated_at=r.updated_at,
                      updated_by=r.updated_by)


class SecretService:
    def __init__(self, db: Database, keyring: KeyRing) -> None:
        self.db = db
        self.keyring = keyring

    def _seal(self, name: str, value: str) -> tuple[bytes, bytes]:
        data_key = AESGCM.generate_key(bit_length=256)
        nonce = _random.token_bytes(12)
        sealed = nonce + AESGCM(data_key).encrypt(nonce, value.encode(), b"slipway-secret:" + name.encode())
        return self.keyring.wrap(data_key, b"secret:" + name.encode()), sealed

    def _open(self, r: Secret) -> str:
        data_key = self.keyring.unwrap(r.wrapped_key, b"secret:" + r.name.encode(), f"Secret {r.name!r}")
        try:
            return AESGCM(data_key).decrypt(r.ciphertext[:12], r.ciphertext[12:],
                                            b"slipway-secret:" + r.name.encode()).decode()
        except InvalidTag:
            raise DecryptionFailed(f"Secret {r.name!r} failed authentication: the stored value was tampered with.") \
                from None

    def set(self, name: str, value: str, user: str = "") -> tuple[SecretView, bool]:
        """Create or replace; returns (view, created)."""
        check_name(name, "secret")
        wrapped, sealed = self._seal(name, value)
        for _ in range(2):
            try:
                with self.db.session() as s:
                    r = s.execute(select(Secret).where(Secret.name == name)).scalar_one_or_none()
                    created = r is None
                    if r is None:
                        r = Secret(name=name, wrapped_key=wrapped, ciphertext=sealed, created_by=user, updated_by=user)
                        s.add(r)
                    else:
                        r.wrapped_key, r.ciphertext, r.updated_by, r.updated_at = wrapped, sealed, user, utcnow()
                    s.flush()
                    return _view(r), created
            except IntegrityError:  # created concurrently: the second pass replaces it
                continue
        raise AssertionError("unreachable")

    def missing(self, names: Iterable[str]) -> list[str]:
        """Which of ``names`` are not set (no value is read)."""
        wanted = list(dict.fromkeys(names))
        with self.db.session() as s:
            found = set(s.execute(select(Secret.name).where(Secret.name.in_(wanted))).scalars())
        return [n for n in wanted if n not in found]

    def list(self) -> list[SecretView]:
        with self.db.session() as s:
            return [_view(r) for r in s.execute(select(Secret).order_by(Secret.name)).scalars()]

    def delete(self, name: str) -> SecretView:
        check_name(name, "secret")
        with self.db.session() as s:
            r = s.execute(select(Secret).where(Secret.name == name)).scalar_one_or_none()
            if r is None:
                raise NotFound(f"Secret {name!r} not found. Set it with: slipway secrets set {name}",
                               {"field": "name", "value": name})
            view = _view(r)
            s.delete(r)
        return view

    def resolve(self, names: Iterable[str]) -> dict[str, str]:
        """Values by name, for the platform's own use (jobs); NotFound names every missing one."""
        wanted = [check_name(n, "secret") for n in dict.fromkeys(names)]
        with self.db.session() as s:
            rows = {r.name: r for r in s.execute(select(Secret).where(Secret.name.in_(wanted))).scalars()}
        missing = [n for n in wanted if n not in rows]
        if missing:
            raise NotFound(f"Secret(s) not found: {', '.join(missing)}. Set them with: slipway secrets set NAME",
                           {"field": "secrets", "missing": missing})
        return {n: self._open(rows[n]) for n in wanted}

    def rewrap_all(self) -> int:
        """Re-wrap every secret's data key under the keyring's current master key."""
        def _do(s: object) -> int:
            n = 0
            for r in s.execute(select(Secret)).scalars():  # type: ignore[attr-defined]
                if self.keyring.wrapped_by(r.wrapped_key) != self.keyring.current:
                    r.wrapped_key = self.keyring.rewrap(r.wrapped_key, b"secret:" + r.name.encode(),
                                                        f"Secret {r.name!r}")
                    n += 1
            return n

        return self.db.run(_do)
