"""Search spaces: `--range` specs parsed and validated, turned into Optuna distributions.

    learning_rate=0.01:0.3:log     float, log-uniform
    max_depth=2:10:int             int, uniform (``:int:log`` for log)
    alpha=0:1                      float, uniform
    loss=log_loss,exponential      categorical (values parsed as int, float, bool or text)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from slipway.errors import InvalidArgument

__all__ = ["Param", "SearchSpace", "parse_range", "parse_ranges", "to_distributions", "parse_value"]


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "categorical"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["choices"] = list(self.choices)
        # Compare by identity: a bound of 0.0 equals False and must survive.
        return {k: v for k, v in d.items() if not (v is None or v is False or (k == "choices" and not v))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Param:
        return cls(name=d["name"], kind=d["kind"], low=d.get("low"), high=d.get("high"), log=bool(d.get("log")),
                   choices=tuple(d.get("choices") or ()))

    def describe(self) -> str:
        if self.kind == "categorical":
            return ",".join(str(c) for c in self.choices)
        suffix = (":int" if self.kind == "int" else "") + (":log" if self.log else "")
        return f"{_num(self.low)}:{_num(self.high)}{suffix}"


SearchSpace = dict[str, Param]


def _num(v: float | None) -> str:
    return "" if v is None else (str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(v))


def parse_value(text: str) -> Any:
    """Hyperparameter values from the command line: int, float, bool or text."""
    low = text.strip()
    if low.lower() in ("true", "false"):
        return low.lower() == "true"
    for cast in (int, float):
        try:
            return cast(low)
        except ValueError:
            continue
    return low


def _bad(spec: str, why: str, expected: str, **details: Any) -> InvalidArgument:
    return InvalidArgument(f"The range {spec!r} {why}. Expected {expected}.",
                           {"field": "range", "value": spec, **details})


def parse_range(spec: str) -> Param:
    name, sep, body = spec.partition("=")
    name = name.strip()
    if not sep or not name or not body.strip():
        raise _bad(spec, "is not of the form NAME=MIN:MAX[:int][:log] or NAME=A,B,C",
                   "e.g. learning_rate=0.01:0.3:log, max_depth=2:10:int or loss=log_loss,exponential")
    body = body.strip()
    if ":" not in body:
        choices = tuple(parse_value(c) for c in body.split(",") if c.strip() != "")
        if not choices:
            raise _bad(spec, "has no values", "a comma-separated list of values")
        if len(set(map(repr, choices))) != len(choices):
            raise _bad(spec, "repeats a value", "distinct values")
        return Param(name, "categorical", choices=choices)
    parts = body.split(":")
    flags = [p.strip().lower() for p in parts[2:]]
    unknown = [f for f in flags if f not in ("int", "log", "float")]
    if len(parts) < 2 or unknown:
        raise _bad(spec, f"has unknown option {unknown[0]!r}" if unknown else "has no max",
                   "NAME=MIN:MAX with optional :int and :log")
    try:
        low, high = float(parts[0]), float(parts[1])
    except ValueError:
        raise _bad(spec, "has a bound that is not a number", "numbers, e.g. 0.01:0.3") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise _bad(spec, "has a bound that is not finite", "finite numbers")
    kind = "int" if "int" in flags else "float"
    log = "log" in flags
    if low >= high:
        raise _bad(spec, f"has min {_num(low)} >= max {_num(high)}", f"min < max, e.g. {name}={_num(min(low, high))}:{_num(max(low, high))}",
                   min=low, max=high)
    if log and low <= 0:
        raise _bad(spec, f"is a log range with min {_num(low)}", "min > 0 for a log range (e.g. 1e-4)", min=low)
    if kind == "int":
        if not (low.is_integer() and high.is_integer()):
            raise _bad(spec, "is an int range with non-integer bounds", "whole numbers, e.g. 2:10:int")
        return Param(name, "int", int(low), int(high), log)
    return Param(name, "float", low, high, log)


def parse_ranges(specs: list[str]) -> SearchSpace:
    space: SearchSpace = {}
    for spec in specs:
        p = parse_range(spec)
        if p.name in space:
            raise _bad(spec, f"names {p.name!r} twice", "one --range per hyperparameter")
        space[p.name] = p
    return space


def to_distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for name, p in space.items():
        if p.kind == "categorical":
            out[name] = CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[name] = IntDistribution(int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
        else:
            out[name] = FloatDistribution(float(p.low), float(p.high), log=p.log)  # type: ignore[arg-type]
    return out
