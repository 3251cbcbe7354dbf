from __future__ import annotations

import pytest

from slipway.errors import InvalidArgument
from slipway.tuning import check_strategy, parse_range, parse_ranges
from slipway.tuning.strategies import grid_size, make_pruner


def test_parse_forms() -> None:
    p = parse_range("learning_rate=0.01:0.3:log")
    assert (p.kind, p.low, p.high, p.log) == ("float", 0.01, 0.3, True)
    p = parse_range("max_depth=2:10:int")
    assert (p.kind, p.low, p.high) == ("int", 2, 10)
    p = parse_range("loss=log_loss,exponential")
    assert (p.kind, p.choices) == ("categorical", ("log_loss", "exponential"))
    assert parse_range("k=1,3,5").choices == (1, 3, 5)
    assert parse_range("alpha=0:1").describe() == "0:1"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("lr=0.3:0.01", "has min 0.3 >= max 0.01"),
        ("lr=1:1", "has min 1 >= max 1"),
        ("lr=0:1:log", "is a log range with min 0"),
        ("lr=-1:1:log", "is a log range with min -1"),
        ("lr=a:b", "not a number"),
        ("lr", "is not of the form"),
        ("lr=1:2:cubic", "unknown option 'cubic'"),
        ("depth=1.5:3:int", "non-integer bounds"),
        ("x=a,a", "repeats a value"),
    ],
)
def test_bad_ranges_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_range(spec)


def test_duplicate_names() -> None:
    with pytest.raises(InvalidArgument, match="names 'lr' twice"):
        parse_ranges(["lr=0.1:1", "lr=1,2"])


def test_strategies() -> None:
    space = parse_ranges(["depth=2:4:int", "loss=a,b"])
    check_strategy("grid", space)
    assert grid_size(space) == 6
    with pytest.raises(InvalidArgument, match="Grid search needs categorical or integer ranges; 'lr'"):
        check_strategy("grid", parse_ranges(["lr=0.1:1"]))
    with pytest.raises(InvalidArgument, match="CMA-ES searches numeric ranges only"):
        check_strategy("cmaes", space)
    with pytest.raises(InvalidArgument, match="Expected one of: bayesian, random, grid, cmaes"):
        check_strategy("genetic", space)
    with pytest.raises(InvalidArgument, match="Early stopping 'sometimes'"):
        make_pruner("sometimes")


def test_params_survive_a_round_trip_with_zero_bounds() -> None:
    from slipway.tuning.space import Param

    for spec in ("l1_ratio=0:1", "x=-1:0", "k=0:5:int", "c=0,1,false", "lr=1e-4:1:log"):
        p = parse_range(spec)
        assert Param.from_dict(p.to_dict()) == p
