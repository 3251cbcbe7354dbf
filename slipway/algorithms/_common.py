"""Shorthands shared by the algorithm modules (declarations only; no scikit-learn import here)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms.base import CLASSIFICATION, Hyperparameter

__all__ = ["boolean", "choice", "floating", "integer", "is_classifier", "random_state"]


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
