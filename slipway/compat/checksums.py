"""The ``x-amz-checksum-*`` algorithms S3 clients send, all verifiable without ``awscrt``.

botocore (>= 1.36, ``request_checksum_calculation=when_supported``) sends CRC32 by default, which
it and we compute with :mod:`zlib`. CRC32C and CRC64NVME are sent only when a caller asks for them
(``ChecksumAlgorithm="CRC32C"``), and botocore computes them only with ``awscrt``; the server must
not need it: when botocore has no implementation, these pure-Python ones (table driven, reflected,
about 10 MB/s) verify them. SHA-1 and SHA-256 come from :mod:`hashlib` through botocore.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["Crc32c", "Crc64Nvme", "checksum_for"]


def _table(poly: int) -> list[int]:
    out = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        out.append(c)
    return out


class _ReflectedCrc:
    poly = 0
    width = 0
    _tables: dict[int, list[int]] = {}

    def __init__(self) -> None:
        self.mask = (1 << self.width) - 1
        self.crc = self.mask
        table = self._tables.get(self.poly)
        if table is None:
            table = self._tables[self.poly] = _table(self.poly)
        self.table = table

    def update(self, data: bytes) -> None:
        crc, table = self.crc, self.table
        for b in data:
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
        self.crc = crc

    def value(self) -> int:
        return self.crc ^ self.mask

    def digest(self) -> bytes:
        return self.value().to_bytes(self.width // 8, "big")

    def b64digest(self) -> str:
        return base64.b64encode(self.digest()).decode()


class Crc32c(_ReflectedCrc):
    """CRC-32C (Castagnoli), as S3's ``x-amz-checksum-crc32c``: big-endian, base64."""

    poly = 0x82F63B78
    width = 32


class Crc64Nvme(_ReflectedCrc):
    """CRC-64/NVME, as S3's ``x-amz-checksum-crc64nvme``: big-endian, base64."""

    poly = 0x9A6C9329AC4BC9B5
    width = 64


_OURS: dict[str, type[_ReflectedCrc]] = {"crc32c": Crc32c, "crc64nvme": Crc64Nvme}


def checksum_for(name: str) -> Any | None:
    """A fresh checksum object (``update``, ``b64digest``) for ``x-amz-checksum-<name>``; None if unknown."""
    from botocore import httpchecksum

    cls = getattr(httpchecksum, "_CHECKSUM_CLS", {}).get(name)
    if cls is not None:
        return cls()
    ours = _OURS.get(name)
    return ours() if ours is not None else None
