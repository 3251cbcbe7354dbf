"""Search strategies and early-stopping rules, mapped to Optuna samplers and pruners."""

from __future__ import annotations

from typing import Any

import optuna

from slipway.errors import InvalidArgument
from slipway.tuning.space import SearchSpace

__all__ = ["STRATEGIES", "EARLY_STOPPING", "make_sampler", "make_pruner", "grid_points", "grid_size"]

STRATEGIES = ("bayesian", "random", "grid", "cmaes")
EARLY_STOPPING = ("none", "hyperband", "asha", "median")


def _grid(space: SearchSpace) -> dict[str, list[Any]]:
    grid: dict[str, list[Any]] = {}
    for name, p in space.items():
        if p.kind == "categorical":
            grid[name] = list(p.choices)
        elif p.kind == "int" and not p.log:
            grid[name] = list(range(int(p.low), int(p.high) + 1))  # type: ignore[arg-type]
        else:
            raise InvalidArgument(
                f"Grid search needs categorical or integer ranges; {name!r} is {p.describe()} ({p.kind}"
                f"{', log' if p.log else ''}). Give it as values (e.g. {name}=0.01,0.1,0.3) or use --strategy bayesian.",
                {"field": "range", "value": name},
            )
    return grid


def grid_points(space: SearchSpace, seed: int | None) -> list[dict[str, Any]]:
    """Every point of the grid, in a seeded random order (so a capped grid is a fair sample)."""
    import itertools
    import random

    grid = _grid(space)
    names = sorted(grid)
    points = [dict(zip(names, combo)) for combo in itertools.product(*(grid[n] for n in names))]
    random.Random(seed).shuffle(points)
    return points


def grid_size(space: SearchSpace) -> int:
    n = 1
    for values in _grid(space).values():
        n *= len(values)
    return n


def check_strategy(strategy: str, space: SearchSpace) -> None:
    if strategy not in STRATEGIES:
        raise InvalidArgument(
            f"Strategy {strategy!r} is not known. Expected one of: {', '.join(STRATEGIES)}.",
            {"field": "strategy", "value": strategy, "expected": list(STRATEGIES)},
        )
    if strategy == "grid":
        _grid(space)
    if strategy == "cmaes":
        discrete = [n for n, p in space.items() if p.kind == "categorical"]
        if discrete:
            raise InvalidArgument(
                f"CMA-ES searches numeric ranges only; {discrete[0]!r} is categorical. Use --strategy bayesian.",
                {"field": "strategy", "value": strategy},
            )


def make_sampler(strategy: str, space: SearchSpace, seed: int | None, trial_number: int) -> optuna.samplers.BaseSampler:
    """A sampler for the next ask. Seeds are derived per trial so a resumed run stays reproducible."""
    s = None if seed is None else seed + trial_number
    if strategy == "random":
        return optuna.samplers.RandomSampler(seed=s)
    if strategy == "grid":
        # Grid points are enqueued up front (see grid_points); the sampler only fills gaps.
        return optuna.samplers.RandomSampler(seed=s)
    if strategy == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=s, warn_independent_sampling=False)
    return optuna.samplers.TPESampler(seed=s, n_startup_trials=5)


def make_pruner(rule: str, max_resource: int | None = None) -> optuna.pruners.BasePruner:
    if rule not in EARLY_STOPPING:
        raise InvalidArgument(
            f"Early stopping {rule!r} is not known. Expected one of: {', '.join(EARLY_STOPPING)}.",
            {"field": "early_stopping", "value": rule, "expected": list(EARLY_STOPPING)},
        )
    if rule == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_resource or "auto", reduction_factor=3)
    if rule == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if rule == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    return optuna.pruners.NopPruner()


