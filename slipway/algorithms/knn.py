"""k-nearest neighbours, for classification or regression."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import choice, integer, is_classifier
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if is_classifier(problem) else KNeighborsRegressor
    return cls(n_neighbors=hp["n_neighbors"], weights=hp["weights"], metric=hp["metric"])


ALGORITHM = Algorithm(
    name="knn",
    description="Predicts from the k most similar training rows.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=(
        integer("n_neighbors", 5, 1, None, "Neighbours consulted per prediction."),
        choice("weights", "uniform", ("uniform", "distance"), "'distance' weighs near neighbours more."),
        choice("metric", "euclidean", ("euclidean", "manhattan", "cosine"), "Distance between rows."),
    ),
    search_space={
        "n_neighbors": {"type": "int", "low": 1, "high": 50, "log": True},
        "weights": {"type": "categorical", "choices": ["uniform", "distance"]},
    },
    build=_build,
)
