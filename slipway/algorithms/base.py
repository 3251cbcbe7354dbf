"""What a built-in algorithm declares: hyperparameters with types and ranges, a search space, problem types.

Declarations are plain data so the server can list and validate them without importing
scikit-learn; ``build`` imports it only inside the job process. One function,
``validate_hyperparameters``, checks every algorithm's values with uniform messages.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.errors import InvalidArgument

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

_TYPE_WORDS = {"int": "an int", "float": "a float", "str": "a str", "bool": "a bool"}

# What the scikit-learn built-ins report (slipway.training.evaluation), prefixed train: and validation:, by
# problem type; classifiers also report f1:<label> per class.
SKLEARN_METRICS = {
    CLASSIFICATION: ("accuracy", "precision", "recall", "f1", "log_loss", "roc_auc"),
    REGRESSION: ("rmse", "mae", "r2"),
    CLUSTERING: ("silhouette", "inertia"),
    TRANSFORM: ("explained_variance", "components"),
}


@dataclass(frozen=True)
class Hyperparameter:
    """One hyperparameter. ``low``/``high`` bound numbers (None: unbounded); ``*_open`` excludes the bound."""

    name: str
    type: str  # int | float | str | bool
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[Any, ...] | None = None
    nullable: bool = False  # None is accepted (e.g. max_depth=None: unlimited)
    pattern: str | None = None  # str values must match this regex
    pattern_text: str = ""  # how the pattern reads in messages: "comma-separated ints"

    def describe(self) -> str:
        """``an int in the range [1, inf)`` / ``a str among {'l1', 'l2'}``: used in every message."""
        word = _TYPE_WORDS[self.type]
        if self.choices is not None:
            text = f"{word} among {{{', '.join(repr(c) for c in self.choices)}}}"
        elif self.type in ("int", "float"):
            lo = "-inf" if self.low is None else _num(self.low)
            hi = "inf" if self.high is None else _num(self.high)
            left = "(" if self.low is None or self.low_open else "["
            right = ")" if self.high is None or self.high_open else "]"
            text = f"{word} in the range {left}{lo}, {hi}{right}"
        elif self.pattern_text:
            text = f"{word} of {self.pattern_text}"
        else:
            text = word
        return text + (" or None" if self.nullable else "")

    def range_text(self) -> str:
        if self.choices is not None:
            return ", ".join(str(c) for c in self.choices)
        if self.type in ("int", "float"):
            return self.describe().split(" in the range ", 1)[1].removesuffix(" or None")
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "type": self.type, "default": self.default, "range": self.range_text(),
            "choices": list(self.choices) if self.choices is not None else None, "help": self.help,
            "nullable": self.nullable,
        }


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


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


def suggest(name: str, known: list[str]) -> str:
    """`` Did you mean 'x'?`` for the nearest known name, or nothing."""
    same_case = [k for k in known if k.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


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


def _bad(algo: str, h: Hyperparameter, value: Any) -> InvalidArgument:
    return InvalidArgument(
        f"The {h.name!r} hyperparameter of {algo} must be {h.describe()}. Got {value!r} instead.",
        {"field": f"hyperparameters.{h.name}", "value": value if isinstance(value, (int, float, str, bool)) else str(value),
         "expected": h.describe()},
    )


def coerce_hyperparameter(algo: str, h: Hyperparameter, value: Any) -> Any:
    """``value`` (typed, or a string from the command line) as ``h.type``, or InvalidArgument."""
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and h.nullable):
        if h.nullable:
            return None
        raise _bad(algo, h, value)
    out: Any
    if h.type == "bool":
        if isinstance(value, bool):
            out = value
        elif isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            out = value.lower() in ("true", "1", "yes")
        else:
            raise _bad(algo, h, value)
    elif h.type == "int":
        if isinstance(value, bool):
            raise _bad(algo, h, value)
        if isinstance(value, int):
            out = value
        elif isinstance(value, float) and value.is_integer():
            out = int(value)
        elif isinstance(value, str):
            try:
                out = int(value.strip())
            except ValueError:
                raise _bad(algo, h, value) from None
        else:
            raise _bad(algo, h, value)
    elif h.type == "float":
        if isinstance(value, bool):
            raise _bad(algo, h, value)
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise _bad(algo, h, value) from None
        else:
            raise _bad(algo, h, value)
        if math.isnan(out):
            raise _bad(algo, h, value)
    else:
        if not isinstance(value, str):
            raise _bad(algo, h, value)
        out = value
    if h.choices is not None and out not in h.choices:
        raise _bad(algo, h, value)
    if h.pattern is not None and not re.fullmatch(h.pattern, out):
        raise _bad(algo, h, value)
    if h.type in ("int", "float"):
        if h.low is not None and (out < h.low or (h.low_open and out == h.low)):
            raise _bad(algo, h, value)
        if h.high is not None and (out > h.high or (h.high_open and out == h.high)):
            raise _bad(algo, h, value)
    return out


def validate_hyperparameters(algorithm: Algorithm, values: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with ``values``, each coerced and range-checked; unknown names are refused."""
    known = [h.name for h in algorithm.hyperparameters]
    out = algorithm.defaults()
    for name, value in values.items():
        h = algorithm.param(name)
        if h is None:
            listed = ", ".join(known) or "none"
            raise InvalidArgument(
                f"{algorithm.name} has no hyperparameter {name!r}.{suggest(name, known)} "
                f"Its hyperparameters are: {listed}. See `slipway algorithms show {algorithm.name}`.",
                {"field": f"hyperparameters.{name}", "value": name, "expected": known},
            )
        out[name] = coerce_hyperparameter(algorithm.name, h, value)
    return out
