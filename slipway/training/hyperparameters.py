"""Declared hyperparameters and the one validator every built-in uses (scikit-learn, boosters, networks).

Values may arrive as strings (`--hp epochs=5`, SageMaker's hyperparameters.json), so ``coerce_hyperparameter``
coerces before it checks types, ranges and choices. One message shape everywhere: "The 'epochs'
hyperparameter of image-classifier must be an int in the range [1, 1000]. Got 0 instead."
Standard library only: the server lists and validates declarations without importing any framework.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slipway.errors import InvalidArgument

__all__ = ["Hyperparameter", "coerce_hyperparameter", "suggest", "validate_hyperparameters"]

_TYPE_WORDS = {"int": "an int", "float": "a float", "str": "a str", "bool": "a bool"}


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



def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def suggest(name: str, known: list[str]) -> str:
    """`` Did you mean 'x'?`` for the nearest known name, or nothing."""
    same_case = [k for k in known if k.lower() == name.lower()]
    close = same_case or difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


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
                try:  # "64.0": a whole number written as a float (SageMaker passes every value as a string)
                    as_float = float(value.strip())
                except ValueError:
                    raise _bad(algo, h, value) from None
                if not as_float.is_integer():
                    raise _bad(algo, h, value) from None
                out = int(as_float)
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
        if not math.isfinite(out):
            raise _bad(algo, h, value)
    else:
        if not isinstance(value, str):
            raise _bad(algo, h, value)
        out = value.strip()
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


def validate_hyperparameters(params: tuple[Hyperparameter, ...], values: Mapping[str, Any] | None,
                             owner: str) -> dict[str, Any]:
    """Every hyperparameter of ``owner`` with defaults overlaid by ``values``, each coerced and checked;
    unknown names are refused with the nearest known one."""
    by_name = {h.name: h for h in params}
    known = list(by_name)
    out = {h.name: h.default for h in params}
    for name, value in (values or {}).items():
        h = by_name.get(name)
        if h is None:
            listed = ", ".join(known) or "none"
            raise InvalidArgument(
                f"{owner} has no hyperparameter {name!r}.{suggest(name, known)} "
                f"Its hyperparameters are: {listed}. See `slipway algorithms show {owner}`.",
                {"field": f"hyperparameters.{name}", "value": name, "expected": known},
            )
        out[name] = coerce_hyperparameter(owner, h, value)
    return out
