"""Built-in algorithms: one small module each, looked up by name.

    get_algorithm("logistic-regression").hyperparameters
    validate_hyperparameters(get_algorithm("svm"), {"C": "0.5"})
"""

from __future__ import annotations

import importlib

from slipway.algorithms.base import (
    CLASSIFICATION,
    CLUSTERING,
    REGRESSION,
    TRANSFORM,
    Algorithm,
    Hyperparameter,
    suggest,
    validate_hyperparameters,
)
from slipway.errors import NotFound

__all__ = [
    "ALGORITHMS",
    "CLASSIFICATION",
    "CLUSTERING",
    "REGRESSION",
    "TRANSFORM",
    "Algorithm",
    "Hyperparameter",
    "get_algorithm",
    "list_algorithms",
    "validate_hyperparameters",
]

# name -> module under slipway.algorithms
ALGORITHMS: dict[str, str] = {
    "linear-regression": "linear_regression",
    "logistic-regression": "logistic_regression",
    "svm": "svm",
    "random-forest": "random_forest",
    "gradient-boosting": "gradient_boosting",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "knn": "knn",
    "naive-bayes": "naive_bayes",
    "kmeans": "kmeans",
    "pca": "pca",
    "text-classifier": "text_classifier",
    "mlp": "mlp",
    "image-classifier": "image_classifier",
    "sequence-classifier": "sequence_classifier",
}


def get_algorithm(name: str) -> Algorithm:
    module = ALGORITHMS.get(name)
    if module is None:
        known = list(ALGORITHMS)
        raise NotFound(
            f"Unknown algorithm {name!r}.{suggest(name, known)} Built-in algorithms: {', '.join(known)} "
            "(see `slipway algorithms list`).",
            {"field": "algorithm", "value": name, "expected": known},
        )
    algo: Algorithm = importlib.import_module(f"slipway.algorithms.{module}").ALGORITHM
    return algo


def list_algorithms() -> list[Algorithm]:
    return [get_algorithm(n) for n in ALGORITHMS]
