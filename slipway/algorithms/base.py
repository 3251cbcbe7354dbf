"""What a built-in algorithm declares: hyperparameters with types and ranges, a search space, problem types.

Declarations are plain data so the server can list and validate them without importing
scikit-learn; ``build`` imports it only inside the job process. ``Hyperparameter`` and the one validator
live in ``slipway.training.hyperparameters`` (the deep-learning built-ins declare theirs with it too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import InvalidArgument
from slipway.training.hyperparameters import Hyperparameter, coerce_hyperparameter, suggest
from slipway.training.hyperparameters import validate_hyperparameters as _validate

__all__ = [
    "Algorithm",
    "Hyperparameter",
    "check_objective",
    "check_range_types",
    "coerce_hyperparameter",
    "reported_metrics",
    "suggest",
    "validate_hyperparameters",
]

CLASSIFICATION = "classification"
REGRESSION = "regression"
CLUSTERING = "clustering"
TRANSFORM = "transform"

# What the scikit-learn built-ins report (slipway.training.evaluation), prefixed train: and validation:, by
# problem type; classifiers also report f1:<label> per class.
SKLEARN_METRICS = {
    CLASSIFICATION: ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"),
    REGRESSION: ("rmse", "mae", "r2"),
    CLUSTERING: ("silhouette", "inertia"),
    TRANSFORM: ("explained_variance", "components"),
}


@dataclass(frozen=True)
class Algorithm:
    """A built-in algorithm. ``build(hps, problem_type)`` returns an unfitted scikit-learn estimator."""

    name: str
    description: str
    problem_types: tuple[str, ...]
    hyperparameters: tuple[Hyperparameter, ...]
    build: Callable[[dict[str, Any], str], Any]
    search_space: dict[str, dict[str, Any]] = field(default_factory=dict)
    input_kinds: tuple[str, ...] = ("tabular",)
    supervised: bool = True
    framework: str = "sklearn"  # "pytorch": a deep-learning built-in, trained by slipway.training.deep
    # Full metric names the algorithm reports when they differ from SKLEARN_METRICS (the deep built-ins);
    # ``validation_always``: it holds out validation data by itself (a validation_split hyperparameter).
    metrics: tuple[str, ...] | None = None
    validation_always: bool = False

    def defaults(self) -> dict[str, Any]:
        return {h.name: h.default for h in self.hyperparameters}

    def param(self, name: str) -> Hyperparameter | None:
        return next((h for h in self.hyperparameters if h.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description, "problem_types": list(self.problem_types),
            "input_kinds": list(self.input_kinds), "supervised": self.supervised, "framework": self.framework,
            "hyperparameters": [h.to_dict() for h in self.hyperparameters], "search_space": self.search_space,
        }


def _problem_family(problem: str) -> str:
    return CLASSIFICATION if problem.endswith("classification") else problem


def reported_metrics(algorithm: Algorithm, problem: str) -> list[str]:
    """Every metric name a job of ``algorithm`` on a ``problem`` (binary_classification, regression…) reports."""
    if algorithm.metrics is not None:
        return list(algorithm.metrics)
    short = SKLEARN_METRICS.get(_problem_family(problem), ())
    return [f"{prefix}:{name}" for prefix in ("validation", "train") for name in short]


def check_objective(algorithm: Algorithm, problem: str, objective: str, has_validation: bool) -> None:
    """Refuse, before any trial runs, an objective that ``algorithm`` never reports for ``problem``, and a
    validation:* objective of a job that holds out no validation data."""
    known = reported_metrics(algorithm, problem)
    per_class = _problem_family(problem) == CLASSIFICATION and algorithm.metrics is None and \
        re.fullmatch(r"(train|validation):f1:.+", objective) is not None
    if objective not in known and not per_class:
        raise InvalidArgument(
            f"The objective {objective!r} is not a metric that {algorithm.name} reports for "
            f"{problem.replace('_', ' ')}.{suggest(objective, known)} It reports: {', '.join(known)}"
            + (", and f1:<label> per class" if _problem_family(problem) == CLASSIFICATION and
               algorithm.metrics is None else "") + ".",
            {"field": "objective", "value": objective, "expected": known},
        )
    if objective.startswith("validation:") and not (has_validation or algorithm.validation_always):
        raise InvalidArgument(
            f"The objective {objective!r} is measured on validation data, but the job has none. Hold some out "
            "with --validation-split 0.2 (validation_split), or add a channel --data validation=NAME:VERSION; "
            f"or optimise {objective.replace('validation:', 'train:', 1)!r}.",
            {"field": "objective", "value": objective, "expected": "validation data"},
        )


def check_range_types(algorithm: Algorithm, name: str, kind: str, bounds: list[Any], spec: str) -> str:
    """The kind (int, float, categorical) a tuning range over hyperparameter ``name`` takes, its ``bounds``
    (or choices) checked against the declaration; ``spec`` is the range as the user wrote it.

    An int hyperparameter given whole-number bounds without ``:int`` (``n_estimators=20:50``) becomes an int
    range: what the user means, since every float trial would be refused at launch. Non-whole bounds are
    refused here, before any trial runs."""
    h = algorithm.param(name)
    if h is None:
        return kind
    if kind != "categorical" and h.type not in ("int", "float"):
        choices = f" Expected {name}={','.join(str(c) for c in h.choices)}" if h.choices else \
            f" Expected a list of values, e.g. {name}=A,B"
        raise InvalidArgument(
            f"The range {spec!r} is numeric, but {name!r} of {algorithm.name} is {h.describe()}.{choices}.",
            {"field": "range", "value": spec, "expected": h.describe()},
        )
    if kind == "float" and h.type == "int":
        if not all(float(b).is_integer() for b in bounds):
            raise InvalidArgument(
                f"The range {spec!r} has non-integer bounds, but {name!r} of {algorithm.name} is "
                f"{h.describe()}. Expected whole numbers, e.g. {name}={int(bounds[0])}:{int(bounds[1]) + 1}.",
                {"field": "range", "value": spec, "expected": h.describe()},
            )
        kind = "int"
    for b in bounds:
        try:
            coerce_hyperparameter(algorithm.name, h, b)
        except InvalidArgument as exc:
            raise InvalidArgument(
                f"The range {spec!r} includes {b!r}, outside what {algorithm.name} accepts: {name!r} must be "
                f"{h.describe()}.",
                {"field": "range", "value": spec, "expected": h.describe()},
            ) from exc
    return kind


def validate_hyperparameters(algorithm: Algorithm, values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each coerced and range-checked; unknown names are refused."""
    return _validate(algorithm.hyperparameters, values, algorithm.name)
