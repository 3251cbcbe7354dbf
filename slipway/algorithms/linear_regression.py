"""Linear regression, plain or regularised (ridge, lasso, elastic net)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boolean, choice, floating, integer
from slipway.algorithms.base import REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge

    reg = hp["regularization"]
    if reg == "none":
        return LinearRegression(fit_intercept=hp["fit_intercept"])
    if reg == "ridge":
        return Ridge(alpha=hp["alpha"], fit_intercept=hp["fit_intercept"])
    if reg == "lasso":
        return Lasso(alpha=hp["alpha"], fit_intercept=hp["fit_intercept"], max_iter=hp["max_iter"])
    return ElasticNet(alpha=hp["alpha"], l1_ratio=hp["l1_ratio"], fit_intercept=hp["fit_intercept"],
                      max_iter=hp["max_iter"])


ALGORITHM = Algorithm(
    name="linear-regression",
    description="Least-squares linear regression; regularization none, ridge (L2), lasso (L1) or elastic-net.",
    problem_types=(REGRESSION,),
    hyperparameters=(
        choice("regularization", "none", ("none", "ridge", "lasso", "elastic-net"), "Penalty on the weights."),
        floating("alpha", 1.0, 0, None, "Strength of the penalty (ridge, lasso, elastic-net).", low_open=True),
        floating("l1_ratio", 0.5, 0, 1, "Elastic-net mix: 0 is ridge, 1 is lasso."),
        boolean("fit_intercept", True, "Fit a constant term."),
        integer("max_iter", 1000, 1, None, "Iterations of the coordinate-descent solver (lasso, elastic-net)."),
    ),
    search_space={
        "regularization": {"type": "categorical", "choices": ["ridge", "lasso", "elastic-net"]},
        "alpha": {"type": "float", "low": 1e-4, "high": 100.0, "log": True},
        "l1_ratio": {"type": "float", "low": 0.0, "high": 1.0},
    },
    build=_build,
)
