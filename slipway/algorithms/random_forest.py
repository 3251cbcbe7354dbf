"""Random forest of decision trees, for classification or regression."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import choice, integer, is_classifier, random_state
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if is_classifier(problem) else RandomForestRegressor
    return cls(n_estimators=hp["n_estimators"], max_depth=hp["max_depth"], min_samples_leaf=hp["min_samples_leaf"],
               max_features=None if hp["max_features"] == "all" else hp["max_features"], n_jobs=hp["n_jobs"],
               random_state=hp["random_state"])


ALGORITHM = Algorithm(
    name="random-forest",
    description="Bagged decision trees; robust default for tabular data.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=(
        integer("n_estimators", 100, 1, 10000, "Number of trees."),
        integer("max_depth", None, 1, None, "Depth limit of each tree; None grows until leaves are pure.",
                nullable=True),
        integer("min_samples_leaf", 1, 1, None, "Fewest samples in a leaf."),
        choice("max_features", "sqrt", ("sqrt", "log2", "all"), "Features considered at each split."),
        integer("n_jobs", 1, -1, 1024, "Parallel tree builders; -1 uses every core."),
        random_state(),
    ),
    search_space={
        "n_estimators": {"type": "int", "low": 50, "high": 500, "log": True},
        "max_depth": {"type": "int", "low": 2, "high": 32, "log": True},
        "min_samples_leaf": {"type": "int", "low": 1, "high": 20},
        "max_features": {"type": "categorical", "choices": ["sqrt", "log2", "all"]},
    },
    build=_build,
)
