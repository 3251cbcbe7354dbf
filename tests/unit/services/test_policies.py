"""Policy documents: validation names the bad field; evaluation; containment for key creation."""

from __future__ import annotations

import pytest

from slipway.errors import InvalidArgument
from slipway.services.policies import BUILTIN_ROLES, covers, evaluate, parse_policy


def allow(actions: list[str], resources: list[str] | None = None) -> dict:
    return {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources or ["*"]}]}


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "policy"),
        ({"Statements": []}, "Statements"),
        ({"Statement": []}, "Statement"),
        ({"Statement": ["x"]}, "Statement[0]"),
        ({"Statement": [{"Effect": "Permit", "Action": ["*"], "Resource": ["*"]}]}, "Statement[0].Effect"),
        ({"Statement": [{"Effect": "Allow", "Resource": ["*"]}]}, "Statement[0].Action"),
        ({"Statement": [{"Effect": "Allow", "Action": ["datasets"], "Resource": ["*"]}]}, "Statement[0].Action[0]"),
        ({"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": [7]}]}, "Statement[0].Resource[0]"),
        ({"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"], "Condition": {}}]},
         "Statement[0].Condition"),
    ],
)
def test_malformed_policies_name_the_field(doc: object, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_policy(doc)
    assert info.value.details["field"] == field
    assert repr(field) in info.value.message


def test_single_strings_are_normalized_to_lists() -> None:
    doc = parse_policy({"Statement": {"Effect": "Allow", "Action": "datasets:Get", "Resource": "dataset/a"}})
    assert doc == allow(["datasets:Get"], ["dataset/a"])


def test_evaluation_deny_wins_and_no_match_denies() -> None:
    p = parse_policy({"Statement": [
        {"Effect": "Allow", "Action": ["datasets:*"], "Resource": ["dataset/can*"]},
        {"Effect": "Deny", "Action": ["datasets:Delete"], "Resource": ["*"]},
    ]})
    assert evaluate([p], "datasets:Get", "dataset/cancer")
    assert evaluate([p], "DATASETS:get", "dataset/cancer")  # actions are case-insensitive
    assert not evaluate([p], "datasets:Get", "dataset/Cancer")  # resources are not
    assert not evaluate([p], "datasets:Delete", "dataset/cancer")  # explicit deny wins
    assert not evaluate([p], "datasets:Get", "dataset/iris")  # no match
    assert not evaluate([p], "models:Get", "model/cancer")
    assert not evaluate([], "datasets:Get", "dataset/cancer")
    assert evaluate([parse_policy(allow(["datasets:Ge?"]))], "datasets:Get", "x")


def test_every_policy_of_a_caller_must_allow() -> None:
    role = BUILTIN_ROLES["admin"][1]
    key = allow(["endpoints:Invoke"], ["endpoint/churn"])
    assert evaluate([role, key], "endpoints:Invoke", "endpoint/churn")
    assert not evaluate([role, key], "endpoints:Invoke", "endpoint/other")
    assert not evaluate([role, key], "datasets:List", "*")
    assert evaluate([role, key], "auth:WhoAmI", "*")


@pytest.mark.parametrize(
    ("role", "action", "allowed"),
    [
        ("admin", "users:Create", True),
        ("data-scientist", "datasets:Create", True),
        ("data-scientist", "secrets:Create", True),
        ("data-scientist", "users:Create", False),
        ("data-scientist", "keys:List", False),
        ("viewer", "datasets:List", True),
        ("viewer", "datasets:Get", True),
        ("viewer", "datasets:Create", False),
        ("viewer", "roles:List", False),
        ("invoker", "endpoints:Invoke", True),
        ("invoker", "datasets:Get", False),
    ],
)
def test_builtin_roles(role: str, action: str, allowed: bool) -> None:
    resource = "endpoint/x" if action.startswith("endpoints") else "dataset/x"
    assert evaluate([BUILTIN_ROLES[role][1]], action, resource) is allowed


def test_covers_only_what_the_holder_has() -> None:
    admin = BUILTIN_ROLES["admin"][1]
    narrow = parse_policy(allow(["datasets:*"], ["dataset/can*"]))
    assert covers([admin], narrow)[0]
    assert covers([admin, narrow], parse_policy(allow(["datasets:Get"], ["dataset/cancer"])))[0]
    assert covers([admin, narrow], parse_policy(allow(["datasets:G*"], ["dataset/cancer*"])))[0]
    ok, missing = covers([admin, narrow], parse_policy(allow(["datasets:Get"], ["dataset/*"])))
    assert not ok and missing == "datasets:Get on dataset/*"
    assert not covers([admin, narrow], parse_policy(allow(["*"])))[0]
    # '?' in the holder does not cover a '*' in the grant.
    assert not covers([parse_policy(allow(["datasets:Ge?"]))], parse_policy(allow(["datasets:G*"])))[0]
    # A holder's Deny overlapping the grant refuses it.
    ds = BUILTIN_ROLES["data-scientist"][1]
    assert covers([ds], parse_policy(allow(["datasets:*"])))[0]
    assert not covers([ds], BUILTIN_ROLES["admin"][1])[0]
    assert not covers([ds], parse_policy(allow(["*:Create"])))[0]
