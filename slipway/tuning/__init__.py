"""Hyperparameter tuning: search spaces, strategies and the driver that runs trials as jobs."""

from __future__ import annotations

from slipway.tuning.space import Param, SearchSpace, parse_range, parse_ranges, parse_value
from slipway.tuning.strategies import EARLY_STOPPING, STRATEGIES, check_strategy

__all__ = ["EARLY_STOPPING", "STRATEGIES", "Param", "SearchSpace", "check_strategy", "parse_range", "parse_ranges",
           "parse_value"]
