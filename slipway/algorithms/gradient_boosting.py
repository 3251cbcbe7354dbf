"""Histogram gradient boosting (LightGBM-style trees), for classification or regression."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boolean, floating, integer, is_classifier, random_state
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if is_classifier(problem) else HistGradientBoostingRegressor
    return cls(learning_rate=hp["learning_rate"], max_iter=hp["max_iter"], max_depth=hp["max_depth"],
               max_leaf_nodes=hp["max_leaf_nodes"], min_samples_leaf=hp["min_samples_leaf"],
               l2_regularization=hp["l2_regularization"], early_stopping=hp["early_stopping"],
               random_state=hp["random_state"])


ALGORITHM = Algorithm(
    name="gradient-boosting",
    description="Histogram-based gradient-boosted trees; fast and accurate on large tabular data.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=(
        floating("learning_rate", 0.1, 0, 1, "Shrinkage of each tree's contribution.", low_open=True),
        integer("max_iter", 100, 1, 100000, "Boosting rounds."),
        integer("max_depth", None, 1, None, "Depth limit of each tree; None: no limit.", nullable=True),
        integer("max_leaf_nodes", 31, 2, None, "Leaves per tree."),
        integer("min_samples_leaf", 20, 1, None, "Fewest samples in a leaf."),
        floating("l2_regularization", 0.0, 0, None, "L2 penalty on leaf values."),
        boolean("early_stopping", False, "Stop when an internal validation score stops improving."),
        random_state(),
    ),
    search_space={
        "learning_rate": {"type": "float", "low": 0.01, "high": 0.3, "log": True},
        "max_iter": {"type": "int", "low": 50, "high": 1000, "log": True},
        "max_leaf_nodes": {"type": "int", "low": 8, "high": 128, "log": True},
        "l2_regularization": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
    },
    build=_build,
)
