"""Runs act as their pipeline's owner, who must be an active user allowed to do each step."""

from __future__ import annotations

import pytest

from slipway.services import Platform


def add_owners(p: Platform) -> None:
    for name in ("tester", "alice"):
        p.auth.create_user(name, "data-scientist")


@pytest.fixture
def platform(platform: Platform) -> Platform:
    add_owners(platform)
    return platform
