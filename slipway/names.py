"""Validation of resource names and of `name:version` references, shared by every service."""

from __future__ import annotations

import re

from slipway.errors import InvalidArgument

__all__ = ["LATEST", "MODEL_REF_SCHEMA", "NAME_SCHEMA", "REF_SCHEMA", "VERSION_SCHEMA", "check_name",
           "check_no_control", "escape_controls", "parse_ref"]

LATEST = None
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_VERSION = re.compile(r"[1-9][0-9]{0,17}")  # ASCII ('¹'.isdigit() is True) and within SQLite's integer
# The same rule as JSON Schema, for the OpenAPI document (no lookahead: '..' is ruled out by making every '.'
# be followed by another character or the end). tests/unit/test_names.py checks that both agree.
_NAME_PATTERN = r"^[A-Za-z0-9](\.?[A-Za-z0-9_-])*\.?$"
_VERSION_PATTERN = r"(latest|[1-9][0-9]{0,17})"
NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": _NAME_PATTERN}
VERSION_SCHEMA = {"type": "string", "pattern": f"^{_VERSION_PATTERN}$"}
# Bounded instead of a lookahead (names of at most 63 characters), which the fuzzer generates too slowly.
_BOUNDED_NAME = r"[A-Za-z0-9](\.?[A-Za-z0-9_-]){0,31}"
MODEL_REF_SCHEMA = {"type": "string",
                    "pattern": f"^{_BOUNDED_NAME}(:{_VERSION_PATTERN}|@{_BOUNDED_NAME})?$"}
REF_SCHEMA = {"type": "string", "pattern": f"^(?=[^:@]{{1,63}}([:@]|$)){_NAME_PATTERN[1:-1]}"
                                              f"(:{_VERSION_PATTERN}|@(?!latest$)(?![0-9]+$){_NAME_PATTERN[1:-1]})?$"}
REF_SCHEMA = {"type": "string", "pattern": f"^(?=[^:]{{1,63}}(:|$)){_NAME_PATTERN[1:-1]}(:{_VERSION_PATTERN})?$"}
# Control characters (C0, DEL, C1), line and paragraph separators, and the invisible formatting characters that
# reorder or hide text (zero-width, bidi overrides, BOM): none belongs in a name, a log line or the audit trail.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def escape_controls(text: str) -> str:
    """``text`` with every control character written as ``\\uXXXX``: safe to store, log or show."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def check_no_control(value: str, field: str, kind: str = "name") -> str:
    """Refuse a control character anywhere in ``value``; the message names it (``U+000A``)."""
    found = _CONTROL.search(value)
    if found is not None:
        char = f"U+{ord(found.group()):04X}"
        shown = escape_controls(value if len(value) <= 80 else f"{value[:80]}…")
        raise InvalidArgument(
            f"The {kind} '{shown}' contains the control character {char} at position {found.start()}. "
            "Expected printable characters only; names are 1-63 letters, digits, '.', '_' or '-'.",
            {"field": field, "value": shown, "character": char, "position": found.start()},
        )
    return value


def check_name(name: str, kind: str = "dataset") -> str:
    """A name is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit, never '..'."""
    if isinstance(name, str):
        check_no_control(name, "name", f"{kind} name")
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
    if not _VERSION.fullmatch(version):
        raise InvalidArgument(
            f"The {kind} reference {ref!r} has version {version!r}. Expected a positive integer or 'latest' "
            f"(e.g. {name}:1).",
            {"field": "version", "value": version},
        )
    return name, int(version)
