"""The rules of a pipeline definition: references, the dependency graph, types; and rendering references.

Everything a definition can get wrong is found here when the pipeline is created (never at run time):
a reference to a step, output or parameter that does not exist, a cycle, a parameter default of the
wrong type, a condition comparing values that cannot be compared.
"""

from __future__ import annotations

import re
from typing import Any

from slipway.errors import InvalidArgument
from slipway.schemas.pipelines import (
    AllOf,
    AnyOf,
    Comparison,
    ConditionStep,
    NotOf,
    Parameter,
    PipelineSpec,
    ProcessStep,
)

__all__ = ["OUTPUTS", "check_parameters", "check_pipeline", "coerce_parameter", "evaluate", "render"]

# What each step type produces: output -> type ("dict:<type>" is a mapping read with ['key'] or .key).
OUTPUTS: dict[str, dict[str, str]] = {
    "process": {"outputs": "dict:dataset_version", "job": "string"},
    "train": {"model": "model", "metrics": "dict:float", "job": "string"},
    "tune": {"model": "model", "metrics": "dict:float", "job": "string"},
    "evaluate": {"metrics": "dict:float", "predictions": "dataset_version", "job": "string"},
    "transform": {"output": "dataset_version", "job": "string"},
    "condition": {"result": "boolean"},
    "register": {"version": "model_version"},
    "deploy": {"endpoint": "string"},
    "fail": {},
}
_REF = re.compile(
    r"\{\{\s*(?:steps\.(?P<step>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<output>[A-Za-z_]+)"
    r"(?P<key>\[\s*'[^']*'\s*\]|\[\s*\"[^\"]*\"\s*\]|\.[A-Za-z0-9_:.-]+)?"
    r"|params\.(?P<param>[A-Za-z_][A-Za-z0-9_]*))\s*\}\}"
)
_ANY_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_PY_TYPES = {"string": (str,), "integer": (int,), "float": (int, float), "boolean": (bool,)}
_NUMERIC = ("integer", "float")
_STRINGS = ("string", "dataset_version", "model_version", "model")
_SKIP_FIELDS = ("name", "type", "depends_on", "then", "else_", "retries", "cache", "when", "source_dir")


def _key(raw: str | None) -> str | None:
    if not raw:
        return None
    if raw.startswith("."):
        return raw[1:]
    return raw.strip()[1:-1].strip()[1:-1]


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every (field path, string) inside a step field."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _strings(v, f"{path}[{i}]")]
    return []


def _ref_type(spec: PipelineSpec, where: str, match: re.Match[str]) -> str:
    """The type a reference gives, or InvalidArgument naming what it names that does not exist."""
    text = match.group(0)
    if match.group("param"):
        param = match.group("param")
        if param not in spec.parameters:
            raise InvalidArgument(
                f"{where}: {text} names parameter {param!r}, which the pipeline does not declare. Parameters: "
                f"{', '.join(spec.parameters) or 'none'}.",
                {"field": where, "value": text, "expected": sorted(spec.parameters)})
        return spec.parameters[param].type
    step, output, key = match.group("step"), match.group("output"), _key(match.group("key"))
    names = [s.name for s in spec.steps]
    if step not in names:
        raise InvalidArgument(
            f"{where}: {text} names step {step!r}, which does not exist. Steps: {', '.join(names)}.",
            {"field": where, "value": text, "expected": names})
    target = spec.step(step)
    outputs = OUTPUTS[target.type]
    if output not in outputs:
        raise InvalidArgument(
            f"{where}: {text} names output {output!r} of {target.type} step {step!r}, which it does not have. "
            f"Its outputs: {', '.join(outputs) or 'none'}.",
            {"field": where, "value": text, "expected": sorted(outputs)})
    kind = outputs[output]
    if kind.startswith("dict:"):
        if key is None:
            return "dict"
        if isinstance(target, ProcessStep) and key not in target.outputs:
            raise InvalidArgument(
                f"{where}: {text} names output channel {key!r} of step {step!r}, which declares "
                f"{', '.join(target.outputs) or 'no outputs'}.",
                {"field": where, "value": text, "expected": sorted(target.outputs)})
        return kind[5:]
    if key is not None:
        raise InvalidArgument(f"{where}: {text} reads key {key!r} of output {output!r}, which is a {kind}, not a "
                              "mapping.", {"field": where, "value": text})
    return kind


def _value_type(spec: PipelineSpec, where: str, value: Any) -> str:
    """The type of a condition operand: a lone reference's type, or a literal's."""
    if isinstance(value, str):
        m = _REF.fullmatch(value.strip())
        if m:
            return _ref_type(spec, where, m)
        for found in _REF.finditer(value):
            _ref_type(spec, where, found)
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "dict"


def _compatible(a: str, b: str) -> bool:
    return a == b or (a in _NUMERIC and b in _NUMERIC) or (a in _STRINGS and b in _STRINGS)


def _check_condition(spec: PipelineSpec, step: str, cond: Any, path: str) -> set[str]:
    """Type-check a condition; return the steps it references."""
    refs: set[str] = set()
    if isinstance(cond, (AllOf, AnyOf)):
        items = cond.all if isinstance(cond, AllOf) else cond.any
        for i, c in enumerate(items):
            refs |= _check_condition(spec, step, c, f"{path}.{'all' if isinstance(cond, AllOf) else 'any'}[{i}]")
        return refs
    if isinstance(cond, NotOf):
        return _check_condition(spec, step, cond.not_, f"{path}.not")
    assert isinstance(cond, Comparison)
    where = f"steps.{step}.{path}"
    left = _value_type(spec, f"{where}.left", cond.left)
    right_values = cond.right if cond.op == "in" and isinstance(cond.right, list) else [cond.right]
    if cond.op == "in" and not isinstance(cond.right, list):
        raise InvalidArgument(f"{where}: 'in' needs a list on the right, got {cond.right!r}.",
                              {"field": f"{where}.right", "value": cond.right, "expected": "a list"})
    for v in right_values:
        right = _value_type(spec, f"{where}.right", v)
        ok = (left in _NUMERIC and right in _NUMERIC) if cond.op in ("<", "<=", ">", ">=") else \
            _compatible(left, right)
        if not ok:
            raise InvalidArgument(
                f"{where}: {cond.left!r} ({left}) {cond.op} {v!r} ({right}) compares incompatible types. "
                + ("Ordering needs numbers on both sides." if cond.op in ("<", "<=", ">", ">=") else
                   "Compare values of the same type."),
                {"field": where, "value": f"{left} {cond.op} {right}", "expected": "compatible types"})
    if cond.margin is not None:
        kind = _value_type(spec, f"{where}.margin", cond.margin)
        if cond.op not in ("<", "<=", ">", ">=") or kind not in _NUMERIC:
            raise InvalidArgument(
                f"{where}.margin: {cond.margin!r} ({kind}) with {cond.op!r}: a margin is a number added to the "
                "right side of an ordering (<, <=, >, >=).",
                {"field": f"{where}.margin", "value": cond.margin, "expected": "a number with <, <=, > or >="})
    for v in [cond.left, *right_values, cond.margin]:
        if isinstance(v, str):
            refs |= {m.group("step") for m in _REF.finditer(v) if m.group("step")}
    return refs


def coerce_parameter(name: str, param: Parameter, value: Any, field: str) -> Any:
    """``value`` as the parameter's type (strings from the command line are parsed), or InvalidArgument."""
    if isinstance(value, str) and param.type != "string":
        text = value.strip()
        try:
            if param.type == "boolean" and text.lower() in ("true", "false"):
                value = text.lower() == "true"
            elif param.type == "integer":
                value = int(text)
            elif param.type == "float":
                value = float(text)
        except ValueError:
            pass
    ok = isinstance(value, _PY_TYPES[param.type]) and not (param.type != "boolean" and isinstance(value, bool))
    if not ok:
        raise InvalidArgument(
            f"Parameter {name!r} is a {param.type}; got {value!r} ({type(value).__name__}).",
            {"field": field, "value": value, "expected": param.type})
    return float(value) if param.type == "float" else value


def check_parameters(spec: PipelineSpec, given: dict[str, Any]) -> dict[str, Any]:
    """A run's parameters: the given ones typed, defaults for the rest; unknown or missing ones refused."""
    unknown = sorted(set(given) - set(spec.parameters))
    if unknown:
        raise InvalidArgument(
            f"Unknown parameter(s) {', '.join(unknown)}. The pipeline declares: {', '.join(spec.parameters) or 'none'}.",
            {"field": "parameters", "value": unknown, "expected": sorted(spec.parameters)})
    out: dict[str, Any] = {}
    for name, param in spec.parameters.items():
        if name in given:
            out[name] = coerce_parameter(name, param, given[name], f"parameters.{name}")
        elif param.default is not None:
            out[name] = param.default
        else:
            raise InvalidArgument(f"Parameter {name!r} ({param.type}) has no default: give it, e.g. "
                                  f"--param {name}=VALUE.", {"field": f"parameters.{name}", "value": None,
                                                             "expected": param.type})
    return out


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for d in graph[n]:
            if state.get(d) == 1:
                return [*stack[stack.index(d):], d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in graph:
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def check_pipeline(spec: PipelineSpec) -> dict[str, list[str]]:
    """Check a definition; return its graph (step -> the steps it depends on, in definition order)."""
    names = [s.name for s in spec.steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgument(f"Step name(s) {', '.join(dupes)} appear more than once. Give each step its own name.",
                              {"field": "steps", "value": dupes})
    for pname, param in spec.parameters.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", pname):
            raise InvalidArgument(f"Parameter name {pname!r} is not valid. Expected letters, digits and '_'.",
                                  {"field": "parameters", "value": pname})
        if param.default is not None:
            coerce_parameter(pname, param, param.default, f"parameters.{pname}.default")
    graph: dict[str, list[str]] = {n: [] for n in names}
    branch_of: dict[str, str] = {}
    for step in spec.steps:
        deps: list[str] = []
        for d in step.depends_on:
            if d not in graph:
                raise InvalidArgument(f"steps.{step.name}.depends_on names step {d!r}, which does not exist. "
                                      f"Steps: {', '.join(names)}.", {"field": f"steps.{step.name}.depends_on",
                                                                      "value": d, "expected": names})
            deps.append(d)
        data = step.model_dump(exclude=set(_SKIP_FIELDS))
        for field, text in _strings(data, f"steps.{step.name}"):
            for m in _REF.finditer(text):
                _ref_type(spec, field, m)
                if m.group("step"):
                    deps.append(m.group("step"))
            bad = [t for t in _ANY_TEMPLATE.findall(text) if not _REF.fullmatch(t)]
            if bad:
                raise InvalidArgument(
                    f"{field}: {bad[0]} is not a reference. Expected {{{{ params.NAME }}}} or "
                    "{{ steps.STEP.OUTPUT }} (with ['key'] for metrics and outputs).",
                    {"field": field, "value": bad[0]})
        if isinstance(step, ConditionStep):
            deps += sorted(_check_condition(spec, step.name, step.when, "when"))
            for branch in (step.then, step.else_):
                for member in branch:
                    if member not in graph:
                        raise InvalidArgument(
                            f"steps.{step.name}: branch step {member!r} does not exist. Steps: {', '.join(names)}.",
                            {"field": f"steps.{step.name}", "value": member, "expected": names})
                    if member in branch_of and branch_of[member] != step.name:
                        raise InvalidArgument(
                            f"Step {member!r} is in a branch of both {branch_of[member]!r} and {step.name!r}.",
                            {"field": f"steps.{step.name}", "value": member})
                    branch_of[member] = step.name
        graph[step.name] = list(dict.fromkeys(deps))
    for member, cond in branch_of.items():
        if cond not in graph[member]:
            graph[member].append(cond)
    cycle = _find_cycle(graph)
    if cycle:
        raise InvalidArgument(
            f"The steps form a cycle: {' -> '.join(cycle)}. A step cannot depend, through references or "
            "depends_on, on itself.", {"field": "steps", "value": cycle, "expected": "an acyclic graph"})
    return graph


# -- rendering at run time ---------------------------------------------------------------------------

def _lookup(match: re.Match[str], params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    if match.group("param"):
        return params[match.group("param")]
    value = outputs[match.group("step")][match.group("output")]
    key = _key(match.group("key"))
    if key is not None:
        if key not in value:
            raise InvalidArgument(
                f"{match.group(0)}: step {match.group('step')!r} has no {match.group('output')} {key!r}; it has "
                f"{', '.join(sorted(value)) or 'none'}.", {"field": match.group(0), "value": key,
                                                          "expected": sorted(value)})
        value = value[key]
    return value


def render(value: Any, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> Any:
    """``value`` with every reference replaced; a string that is one reference takes the value's own type."""
    if isinstance(value, str):
        m = _REF.fullmatch(value.strip())
        if m:
            return _lookup(m, params, outputs)
        return _REF.sub(lambda mm: str(_lookup(mm, params, outputs)), value)
    if isinstance(value, dict):
        return {k: render(v, params, outputs) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, params, outputs) for v in value]
    return value


def evaluate(cond: Any, params: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> bool:
    if isinstance(cond, AllOf):
        return all(evaluate(c, params, outputs) for c in cond.all)
    if isinstance(cond, AnyOf):
        return any(evaluate(c, params, outputs) for c in cond.any)
    if isinstance(cond, NotOf):
        return not evaluate(cond.not_, params, outputs)
    left, right = render(cond.left, params, outputs), render(cond.right, params, outputs)
    if cond.margin is not None:
        right = right + float(render(cond.margin, params, outputs))
    ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
           "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
           "in": lambda a, b: a in b}
    return bool(ops[cond.op](left, right))
