"""IAM-style policy documents: validation, evaluation, containment, and the built-in roles.

A document is ``{"Statement": [{"Effect": "Allow"|"Deny", "Action": [...], "Resource": [...]}]}``.
Actions are ``<resources>:<Verb>`` (case-insensitive), resources ``<type>/<name>``; both may use
``*`` (any run of characters) and ``?`` (one character). Explicit Deny wins; no match denies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from typing import Any

from slipway.errors import InvalidArgument
from slipway.schemas.auth import ACTION_PATTERN, RESOURCE_PATTERN

__all__ = [
    "ALWAYS_ALLOWED",
    "BUILTIN_ROLES",
    "Policy",
    "covers",
    "evaluate",
    "parse_policy",
]

Policy = dict[str, Any]

# Any authenticated caller may ask who it is (like sts:GetCallerIdentity).
ALWAYS_ALLOWED = frozenset({"auth:WhoAmI"})

_ADMINISTRATION = ["users:*", "keys:*", "roles:*"]

BUILTIN_ROLES: dict[str, tuple[str, Policy]] = {
    "admin": ("Everything, including users, keys, roles and the master key.",
              {"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]}]}),
    "data-scientist": ("Everything except users, keys and roles.",
                       {"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]},
                                      {"Effect": "Deny", "Action": _ADMINISTRATION, "Resource": ["*"]}]}),
    "viewer": ("Read-only: List, Get, status and metrics, except users, keys and roles.",
               {"Statement": [{"Effect": "Allow", "Action": ["*:List", "*:Get", "system:GetStatus", "system:GetMetrics"],
                               "Resource": ["*"]},
                              {"Effect": "Deny", "Action": _ADMINISTRATION, "Resource": ["*"]}]}),
    "invoker": ("Invoke endpoints (and read the server status).",
                {"Statement": [{"Effect": "Allow", "Action": ["endpoints:Invoke", "endpoints:InvokeAsync",
                                                              "endpoints:GetAsyncResult"], "Resource": ["endpoint/*"]},
                               {"Effect": "Allow", "Action": ["system:GetStatus"], "Resource": ["*"]}]}),
}

_ACTION = re.compile(ACTION_PATTERN)
_RESOURCE = re.compile(RESOURCE_PATTERN)



def _bad(field: str, value: Any, expected: str) -> InvalidArgument:
    shown = value if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return InvalidArgument(
        f"Policy field {field!r} has value {shown!r}. Expected {expected}.",
        {"field": field, "value": shown, "expected": expected},
    )


def _strings(stmt: dict[str, Any], name: str, where: str, pattern: re.Pattern[str], expected: str) -> list[str]:
    value = stmt.get(name)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _bad(f"{where}.{name}", value, f"a non-empty list of {expected}")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not pattern.match(item):
            raise _bad(f"{where}.{name}[{i}]", item, expected)
    return list(value)


def parse_policy(doc: Any) -> Policy:
    """Validate a policy document and return its normalized form; errors name the field."""
    if not isinstance(doc, dict):
        raise _bad("policy", doc, 'an object {"Statement": [...]}')
    unknown = sorted(set(doc) - {"Statement", "Version"})
    if unknown:
        raise _bad(unknown[0], doc[unknown[0]], "only 'Statement' (and optionally 'Version') at the top level")
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise _bad("Statement", statements, "a non-empty list of statements")
    out = []
    for i, stmt in enumerate(statements):
        where = f"Statement[{i}]"
        if not isinstance(stmt, dict):
            raise _bad(where, stmt, "an object with Effect, Action and Resource")
        extra = sorted(set(stmt) - {"Effect", "Action", "Resource", "Sid"})
        if extra:
            raise _bad(f"{where}.{extra[0]}", stmt[extra[0]], "only Effect, Action, Resource and Sid")
        effect = stmt.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise _bad(f"{where}.Effect", effect, "'Allow' or 'Deny'")
        actions = _strings(stmt, "Action", where, _ACTION,
                           "actions like 'datasets:Get', 'datasets:*' or '*'")
        resources = _strings(stmt, "Resource", where, _RESOURCE,
                             "resources like 'dataset/cancer', 'dataset/can*' or '*'")
        out.append({"Effect": effect, "Action": actions, "Resource": resources})
    return {"Statement": out}


@lru_cache(maxsize=4096)
def _regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE if ignore_case else 0)


def _match(pattern: str, value: str, ignore_case: bool) -> bool:
    return _regex(pattern, ignore_case).fullmatch(value) is not None


def _decision(policy: Policy, action: str, resource: str) -> str | None:
    result = None
    for stmt in policy["Statement"]:
        if any(_match(a, action, True) for a in stmt["Action"]) and any(
            _match(r, resource, False) for r in stmt["Resource"]
        ):
            if stmt["Effect"] == "Deny":
                return "Deny"
            result = "Allow"
    return result


def evaluate(policies: Sequence[Policy], action: str, resource: str) -> bool:
    """True when every policy allows ``action`` on ``resource`` and none denies it.

    A caller's policies are its user's role and, when set, its key's narrower policy: a key
    never has more rights than its user.
    """
    if action in ALWAYS_ALLOWED:
        return True
    decisions = [_decision(p, action, resource) for p in policies]
    return bool(decisions) and all(d == "Allow" for d in decisions)


# -- containment: may a caller hand these rights to a new key or user? ---------------------------


@lru_cache(maxsize=4096)
def _covers_pattern(outer: str, inner: str, ignore_case: bool) -> bool:
    """Every string matching glob ``inner`` also matches glob ``outer`` (sound, may say no when unsure)."""
    # Match inner's text literally against outer, where outer's '?' may not eat inner's wildcards.
    body = "".join(".*" if c == "*" else "[^*?]" if c == "?" else re.escape(c) for c in outer)
    return re.fullmatch(body, inner, re.IGNORECASE if ignore_case else 0) is not None


@lru_cache(maxsize=4096)
def _overlap(a: str, b: str, ignore_case: bool) -> bool:
    """Some string matches both globs."""
    if ignore_case:
        a, b = a.lower(), b.lower()

    @cache
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i] == "*":
            return go(i + 1, j) or (j < len(b) and go(i, j + 1))
        if j < len(b) and b[j] == "*":
            return go(i, j + 1) or (i < len(a) and go(i + 1, j))
        if i == len(a) or j == len(b):
            return False
        return (a[i] == b[j] or a[i] == "?" or b[j] == "?") and go(i + 1, j + 1)

    return go(0, 0)


def _grants(policy: Policy) -> Iterable[tuple[str, str]]:
    for stmt in policy["Statement"]:
        if stmt["Effect"] == "Allow":
            for a in stmt["Action"]:
                for r in stmt["Resource"]:
                    yield a, r


def _policy_covers(policy: Policy, action: str, resource: str) -> bool:
    allowed = False
    for stmt in policy["Statement"]:
        acts, ress = stmt["Action"], stmt["Resource"]
        if stmt["Effect"] == "Deny":
            if any(_overlap(x, action, True) for x in acts) and any(_overlap(x, resource, False) for x in ress):
                return False
        elif any(_covers_pattern(x, action, True) for x in acts) and any(
            _covers_pattern(x, resource, False) for x in ress
        ):
            allowed = True
    return allowed


def covers(holder: Sequence[Policy], granted: Policy) -> tuple[bool, str]:
    """Whether ``holder`` (a caller's policies) has every right that ``granted`` allows.

    Returns (ok, first uncovered "action on resource"). Conservative: a grant that overlaps
    one of the holder's Deny statements is refused even if the grant's own Deny would exclude it.
    """
    for action, resource in _grants(granted):
        if action in ALWAYS_ALLOWED:
            continue
        if not all(_policy_covers(p, action, resource) for p in holder):
            return False, f"{action} on {resource}"
    return True, ""
