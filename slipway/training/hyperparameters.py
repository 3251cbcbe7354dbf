"""Declared hyperparameters and the one function that validates them with uniform messages.

Values may arrive as strings (`--hp epochs=5`, SageMaker's hyperparameters.json), so
`validate_hyperparameters` coerces before it checks types and ranges.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slipway.errors import InvalidArgument

__all__ = ["Param", "validate_hyperparameters"]

_TYPE_NAMES = {int: "an int", float: "a float", str: "a str", bool: "a bool"}


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its type, default, allowed range or choices, and what it does."""

    name: str
    type: type
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True
    choices: tuple[Any, ...] | None = None

    def constraint(self) -> str:
        """The expectation in words: "an int in the range [1, 1000]"."""
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = _TYPE_NAMES[self.type]
        if self.low is None and self.high is None:
            return kind
        left = "[" if self.low_inclusive and self.low is not None else "("
        right = "]" if self.high_inclusive and self.high is not None else ")"
        low = "-inf" if self.low is None else _num(self.low)
        high = "inf" if self.high is None else _num(self.high)
        return f"{kind} in the range {left}{low}, {high}{right}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type.__name__,
            "default": self.default,
            "range": None if self.choices is not None else [self.low, self.high],
            "choices": list(self.choices) if self.choices is not None else None,
            "constraint": self.constraint(),
            "description": self.description,
        }


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def _coerce(param: Param, value: Any) -> Any:
    """Turn `value` into `param.type` when it is unambiguous; otherwise return it unchanged."""
    if param.type is bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
            return value.strip().lower() in ("true", "1")
        return value
    if isinstance(value, bool):
        return value  # never let True pass as 1
    if param.type is int:
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                try:
                    as_float = float(value.strip())
                except ValueError:
                    return value
                return int(as_float) if as_float.is_integer() else value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if param.type is float:
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                return value
        if isinstance(value, int):
            return float(value)
        return value
    if param.type is str and isinstance(value, str):
        return value.strip()
    return value


def _valid(param: Param, value: Any) -> bool:
    if param.type is bool:
        return isinstance(value, bool)
    if param.type in (int, float):
        if isinstance(value, bool) or not isinstance(value, param.type):
            return False
        if param.type is float and not math.isfinite(value):
            return False
    elif not isinstance(value, param.type):
        return False
    if param.choices is not None:
        return value in param.choices
    if param.low is not None and (value < param.low or (value == param.low and not param.low_inclusive)):
        return False
    if param.high is not None and (value > param.high or (value == param.high and not param.high_inclusive)):
        return False
    return True


def validate_hyperparameters(
    params: tuple[Param, ...], values: Mapping[str, Any] | None, owner: str
) -> dict[str, Any]:
    """Return every hyperparameter of `owner` with defaults filled in, or raise InvalidArgument.

    Messages follow one shape: "The 'epochs' hyperparameter of image-classifier must be
    an int in the range [1, 1000]. Got 0 instead."
    """
    by_name = {p.name: p for p in params}
    out = {p.name: p.default for p in params}
    for name, raw in (values or {}).items():
        param = by_name.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise InvalidArgument(
                f"Unknown hyperparameter '{name}' for {owner}.{hint} Expected one of: "
                f"{', '.join(sorted(by_name))}.",
                {"field": f"hyperparameters.{name}", "value": raw, "expected": sorted(by_name)},
            )
        value = _coerce(param, raw)
        if not _valid(param, value):
            raise InvalidArgument(
                f"The '{name}' hyperparameter of {owner} must be {param.constraint()}. Got {raw!r} instead.",
                {"field": f"hyperparameters.{name}", "value": raw, "expected": param.constraint()},
            )
        out[name] = value
    return out
