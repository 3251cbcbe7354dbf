"""Master keys and envelope encryption: data keys are wrapped (AES-256-GCM) by a master key.

The master key comes from ``SLIPWAY_MASTER_KEY`` (setting ``master_key``) or from
``<home>/master.key`` (mode 0600), created on first start. A wrapped key names the master key
that wrapped it by fingerprint, so a wrong master key fails loudly instead of yielding garbage,
and a rotation can re-wrap data keys one by one while both master keys are loaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import threading
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from slipway.errors import InvalidArgument, SlipwayError

__all__ = ["DecryptionFailed", "KeyRing", "fingerprint", "parse_master_key"]

_WRAP_VERSION = b"\x01"
_FP_LEN = 8


class DecryptionFailed(SlipwayError):
    """Stored bytes cannot be decrypted: wrong master key, or tampered/corrupted data."""

    status_code = 500
    code = "decryption_failed"


def fingerprint(key: bytes) -> str:
    """A short public name for a master key (never enough to recover it)."""
    return hashlib.sha256(b"slipway-master-key:" + key).hexdigest()[: 2 * _FP_LEN]


def parse_master_key(text: str, source: str) -> bytes:
    """32 bytes from base64 (standard or URL-safe) or 64 hex digits."""
    text = text.strip()
    raw: bytes | None = None
    if len(text) == 64:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != 32:
        raise InvalidArgument(
            f"The master key from {source} is not valid. Expected 32 random bytes as base64 or 64 hex digits "
            "(make one with: python -c 'import secrets,base64;print(base64.b64encode(secrets.token_bytes(32)).decode())').",
            {"field": "master_key"},
        )
    return raw


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, atomically."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class KeyRing:
    """The loaded master keys by fingerprint; ``current`` wraps new data keys."""

    def __init__(self, keys: list[bytes], source: str, key_file: Path | None = None) -> None:
        self._keys = {fingerprint(k): k for k in keys}
        self.current = fingerprint(keys[-1])
        self.source = source
        self.key_file = key_file
        self.lock = threading.RLock()

    @classmethod
    def load(cls, master_key: str, key_file: Path) -> KeyRing:
        """From the setting when given, else from ``key_file`` (created on first use)."""
        if master_key:
            return cls([parse_master_key(master_key, "SLIPWAY_MASTER_KEY")], "SLIPWAY_MASTER_KEY")
        keys: list[bytes] = []
        if key_file.is_file():
            keys.append(parse_master_key(key_file.read_text(), str(key_file)))
        else:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_bytes(32)
            _write_private(key_file, base64.b64encode(key) + b"\n")
            keys.append(key)
        pending = key_file.with_name(key_file.name + ".new")
        if pending.is_file():  # a rotation was interrupted: some data keys may already use the new key
            keys.append(parse_master_key(pending.read_text(), str(pending)))
        return cls(keys, str(key_file), key_file)

    @property
    def fingerprints(self) -> list[str]:
        return list(self._keys)

    def wrap(self, data_key: bytes, context: bytes) -> bytes:
        """``data_key`` encrypted under the current master key, bound to ``context`` (e.g. the object key)."""
        with self.lock:
            fp, master = self.current, self._keys[self.current]
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(master).encrypt(nonce, data_key, b"slipway-wrap:" + context)
        return _WRAP_VERSION + bytes.fromhex(fp) + nonce + sealed

    def wrapped_by(self, wrapped: bytes) -> str:
        return wrapped[1 : 1 + _FP_LEN].hex()

    def unwrap(self, wrapped: bytes, context: bytes, what: str) -> bytes:
        if len(wrapped) < 1 + _FP_LEN + 12 + 16 or wrapped[:1] != _WRAP_VERSION:
            raise DecryptionFailed(f"The wrapped data key of {what} is malformed; the stored key was damaged.")
        fp = self.wrapped_by(wrapped)
        master = self._keys.get(fp)
        if master is None:
            raise DecryptionFailed(
                f"{what} was encrypted under master key {fp}, but the loaded master key is {self.current} "
                f"(from {self.source}). Restore the master key that was used (the {self.key_file or 'master.key'} "
                "file or SLIPWAY_MASTER_KEY); data cannot be read without it.",
                {"expected_master_key": fp, "loaded_master_key": self.current},
            )
        nonce, sealed = wrapped[1 + _FP_LEN : 1 + _FP_LEN + 12], wrapped[1 + _FP_LEN + 12 :]
        try:
            return AESGCM(master).decrypt(nonce, sealed, b"slipway-wrap:" + context)
        except InvalidTag:
            raise DecryptionFailed(
                f"The data key of {what} failed authentication under master key {fp}: it was tampered with "
                "or belongs to another object.",
            ) from None

    def rewrap(self, wrapped: bytes, context: bytes, what: str) -> bytes:
        return self.wrap(self.unwrap(wrapped, context, what), context)

    # -- rotation: begin (new key becomes current, saved as <file>.new), re-wrap everything, commit --

    def begin_rotation(self) -> str:
        if self.key_file is None:
            raise InvalidArgument(
                "The master key comes from SLIPWAY_MASTER_KEY, which the server cannot change. To rotate, "
                "write that value to <home>/master.key (mode 0600), unset SLIPWAY_MASTER_KEY, restart, then "
                "run `slipway keys rotate-master`.",
                {"field": "master_key"},
            )
        pending = self.key_file.with_name(self.key_file.name + ".new")
        if pending.is_file():  # resume an interrupted rotation: data keys may already use that key
            key = parse_master_key(pending.read_text(), str(pending))
        else:
            key = secrets.token_bytes(32)
            _write_private(pending, base64.b64encode(key) + b"\n")
        with self.lock:
            self._keys[fingerprint(key)] = key
            self.current = fingerprint(key)
        return self.current

    def commit_rotation(self) -> None:
        assert self.key_file is not None
        pending = self.key_file.with_name(self.key_file.name + ".new")
        os.replace(pending, self.key_file)
        with self.lock:
            self._keys = {self.current: self._keys[self.current]}
