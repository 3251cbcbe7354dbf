"""Shorthands shared by the algorithm modules (declarations only; no scikit-learn import here)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms.base import CLASSIFICATION, Hyperparameter

__all__ = ["boolean", "boosting_hyperparameters", "choice", "floating", "integer", "is_classifier", "random_state"]


def integer(name: str, default: Any, low: float | None = None, high: float | None = None, help: str = "",
            nullable: bool = False) -> Hyperparameter:
    return Hyperparameter(name, "int", default, help, low, high, nullable=nullable)


def floating(name: str, default: Any, low: float | None = None, high: float | None = None, help: str = "",
             low_open: bool = False, high_open: bool = False, nullable: bool = False) -> Hyperparameter:
    return Hyperparameter(name, "float", default, help, low, high, low_open, high_open, nullable=nullable)


def choice(name: str, default: str, choices: tuple[str, ...], help: str = "") -> Hyperparameter:
    return Hyperparameter(name, "str", default, help, choices=choices)


def boolean(name: str, default: bool, help: str = "") -> Hyperparameter:
    return Hyperparameter(name, "bool", default, help)


def random_state() -> Hyperparameter:
    return integer("random_state", 0, 0, 2**32 - 1, "Seed, so that a rerun gives the same model.")


def is_classifier(problem: str) -> bool:
    return problem == CLASSIFICATION


def boosting_hyperparameters(*, eta: float, max_depth: Hyperparameter, own: tuple[Hyperparameter, ...],
                             subsample: str, min_child_weight: tuple[float, str], l2: float, objectives: str,
                             metrics: str) -> tuple[Hyperparameter, ...]:
    """The xgboost and lightgbm built-ins' hyperparameters: SageMaker's XGBoost names for both, ``own`` (the
    library's extra ones) after ``max_depth``; the arguments are where the two libraries' defaults differ."""
    return (
        integer("num_round", 100, 1, 100000, "Boosting rounds."),
        floating("eta", eta, 0, 1, "Step size shrinkage (learning rate).", low_open=True),
        max_depth,
        *own,
        floating("subsample", 1.0, 0, 1, f"Fraction of rows sampled {subsample}.", low_open=True),
        floating("colsample_bytree", 1.0, 0, 1, "Fraction of columns sampled per tree.", low_open=True),
        floating("min_child_weight", min_child_weight[0], 0, None, min_child_weight[1]),
        floating("alpha", 0.0, 0, None, "L1 penalty on weights."),
        floating("lambda", l2, 0, None, "L2 penalty on weights."),
        Hyperparameter("objective", "str", None, f"e.g. {objectives}; None: chosen from the problem type.",
                       nullable=True),
        Hyperparameter("eval_metric", "str", None, f"Validation metric per round (e.g. {metrics}); None: the "
                       "objective's default.", nullable=True),
        integer("early_stopping_rounds", None, 1, None, "Stop when the validation metric has not improved for this "
                "many rounds (needs validation data); None: never.", nullable=True),
        integer("seed", 0, 0, 2**31 - 1, "Seed, so that a rerun gives the same model."),
    )
