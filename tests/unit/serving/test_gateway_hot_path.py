"""The gateway hot path's shortcuts give the answers of the general code: the policy decision remembered per
principal (a replaced principal, after a key or policy change, is evaluated afresh) and ``Route.pick``'s
single-replica case (a suspect replica, a variant at weight 0 and an excluded replica are still refused)."""

from __future__ import annotations

from pathlib import Path

from slipway.api.invoke import InvocationFastPath
from slipway.services.auth import Principal
from slipway.serving.runtime import ReplicaHandle, Route, VariantRoute

ONLY_A = {"Statement": [{"Effect": "Allow", "Action": ["endpoints:Invoke"], "Resource": ["endpoint/a"]}]}
DENY_A = {"Statement": [{"Effect": "Allow", "Action": ["*"], "Resource": ["*"]},
                        {"Effect": "Deny", "Action": ["endpoints:*"], "Resource": ["endpoint/a"]}]}


def _principal(policy: dict) -> Principal:  # type: ignore[type-arg]
    return Principal(user="ana", role="custom", key_id="k1", policies=(policy,))


def test_a_decision_is_remembered_per_principal_and_a_replaced_principal_is_evaluated_again() -> None:
    fast = InvocationFastPath(app=None, platform=None)  # type: ignore[arg-type]
    first = _principal(ONLY_A)
    assert fast._allows(first, "a") and fast._allows(first, "a")
    assert not fast._allows(first, "b")
    # The key's policy changed: the auth cache holds a new principal, whose policy denies what the old allowed.
    second = _principal(DENY_A)
    assert not fast._allows(second, "a")
    assert fast._allows(second, "b")
    assert fast._allows(first, "a")  # the old object still answers for itself (nobody hands it out any more)


def _replica(suspect: bool = False) -> ReplicaHandle:
    return ReplicaHandle("e", "primary", "m:1", 0, None, Path("log"), suspect=suspect)  # type: ignore[arg-type]


def test_pick_with_one_variant_and_one_replica_refuses_what_the_general_path_refuses() -> None:
    replica = _replica()
    route = Route("e", (VariantRoute("primary", "m:1", 1.0, (replica,)),))
    assert route.pick() == (route.variants[0], replica)
    assert route.pick(exclude=frozenset({replica.replica_id})) is None
    assert route.pick("primary") == (route.variants[0], replica)
    assert route.pick("other") is None
    assert Route("e", (VariantRoute("primary", "m:1", 0.0, (replica,)),)).pick() is None
    assert Route("e", (VariantRoute("primary", "m:1", 1.0, (_replica(suspect=True),)),)).pick() is None
