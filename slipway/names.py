"""Validation of resource names and of `name:version` references, shared by every service."""

from __future__ import annotations

import re

from slipway.errors import InvalidArgument

__all__ = ["LATEST", "check_name", "parse_ref"]

LATEST = None
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_name(name: str, kind: str = "dataset") -> str:
    """A name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit, never '..'."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        shown = name if isinstance(name, str) and len(name) <= 80 else f"{str(name)[:80]}…"
        reason = "is longer than 63 characters" if isinstance(name, str) and len(name) > 63 else "is not valid"
        raise InvalidArgument(
            f"The {kind} name {shown!r} {reason}. Expected 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (no '/', '..' or spaces).",
            {"field": "name", "value": shown, "expected": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"},
        )
    return name


def parse_ref(ref: str, kind: str = "dataset") -> tuple[str, int | None]:
    """``cancer`` / ``cancer:latest`` -> (cancer, None); ``cancer:3`` -> (cancer, 3)."""
    name, sep, version = ref.partition(":")
    check_name(name, kind)
    if not sep or version in ("", "latest"):
        return name, LATEST
    if not version.isdigit() or int(version) < 1:
        raise InvalidArgument(
            f"The {kind} reference {ref!r} has version {version!r}. Expected a positive integer or 'latest' "
            f"(e.g. {name}:1).",
            {"field": "version", "value": version},
        )
    return name, int(version)
