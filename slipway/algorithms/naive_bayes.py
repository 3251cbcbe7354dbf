"""Gaussian naive Bayes: a fast probabilistic classifier."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import floating
from slipway.algorithms.base import CLASSIFICATION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.naive_bayes import GaussianNB

    return GaussianNB(var_smoothing=hp["var_smoothing"])


ALGORITHM = Algorithm(
    name="naive-bayes",
    description="Gaussian naive Bayes; assumes independent, normally distributed features per class.",
    problem_types=(CLASSIFICATION,),
    hyperparameters=(
        floating("var_smoothing", 1e-9, 0, None, "Share of the largest variance added to every variance."),
    ),
    search_space={"var_smoothing": {"type": "float", "low": 1e-12, "high": 1e-3, "log": True}},
    build=_build,
)
