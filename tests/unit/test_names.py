from __future__ import annotations

import pytest

from slipway.errors import InvalidArgument
from slipway.names import check_name, parse_ref


@pytest.mark.parametrize("name", ["cancer", "a", "x" * 63, "my-data_v2.1"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "a/b", "..", "a..b", "has space", "x" * 64, "-x", ".hidden", "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument):
        check_name(name)


def test_refs() -> None:
    assert parse_ref("cancer") == ("cancer", None)
    assert parse_ref("cancer:latest") == ("cancer", None)
    assert parse_ref("cancer:3") == ("cancer", 3)
    for bad in ("cancer:0", "cancer:-1", "cancer:x", "../x:1"):
        with pytest.raises(InvalidArgument):
            parse_ref(bad)
