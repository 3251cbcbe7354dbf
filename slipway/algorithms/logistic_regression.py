"""Logistic regression for binary and multiclass classification (L2, L1 or elastic-net penalty)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boolean, choice, floating, integer, random_state
from slipway.algorithms.base import CLASSIFICATION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=hp["C"], l1_ratio=hp["l1_ratio"], solver="saga" if hp["l1_ratio"] > 0 else "lbfgs",
        max_iter=hp["max_iter"], fit_intercept=hp["fit_intercept"],
        class_weight=None if hp["class_weight"] == "none" else "balanced", random_state=hp["random_state"],
    )


ALGORITHM = Algorithm(
    name="logistic-regression",
    description="Regularised logistic regression; predicts class probabilities.",
    problem_types=(CLASSIFICATION,),
    hyperparameters=(
        floating("C", 1.0, 0, None, "Inverse of the regularisation strength (smaller: stronger).", low_open=True),
        floating("l1_ratio", 0.0, 0, 1, "0 is an L2 penalty, 1 is L1, in between elastic-net (saga solver)."),
        integer("max_iter", 200, 1, None, "Solver iterations."),
        boolean("fit_intercept", True, "Fit a constant term."),
        choice("class_weight", "none", ("none", "balanced"), "'balanced' reweights rare classes."),
        random_state(),
    ),
    search_space={
        "C": {"type": "float", "low": 1e-3, "high": 1e3, "log": True},
        "l1_ratio": {"type": "float", "low": 0.0, "high": 1.0},
        "class_weight": {"type": "categorical", "choices": ["none", "balanced"]},
    },
    build=_build,
)
