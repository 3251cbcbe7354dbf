"""The model artifact's manifest (slipway-model.json, see docs/developing.md) as one typed object.

A job writes it once; the server adds what only it knows (the final metrics, the lineage) and the
registry adds what it verifies (the ONNX export). Everyone reads and writes it through ``Manifest``,
never as a literal dict. Standard library only: the job process, the registry and the replicas import it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument

__all__ = [
    "CLASSIFIERS",
    "DTYPES",
    "FRAMEWORKS",
    "INPUT_KINDS",
    "MANIFEST",
    "PROBLEM_TYPES",
    "Manifest",
    "Signature",
    "read_manifest",
]

MANIFEST = "slipway-model.json"
FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "pytorch", "keras", "onnx", "custom")
PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression", "clustering", "transform")
CLASSIFIERS = ("binary_classification", "multiclass_classification")
INPUT_KINDS = ("tabular", "text", "image", "array")
DTYPES = ("float64", "float32", "int64", "int32", "bool", "string", "category", "object", "datetime64[ns]")
NUMERIC = ("float64", "float32", "int64", "int32", "bool")


def _bad(field_name: str, value: Any, expected: str) -> InvalidArgument:
    shown = value if not isinstance(value, (dict, list)) or len(str(value)) < 200 else type(value).__name__
    return InvalidArgument(
        f"{MANIFEST}: field {field_name!r} has value {shown!r}. Expected {expected}. "
        "See 'Model artifact' in docs/developing.md.",
        {"field": field_name, "value": shown, "expected": expected},
    )


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass
class Signature:
    """What the model takes and answers: the input kind, tabular columns or an array shape, class labels."""

    input_kind: str = "tabular"
    inputs: list[dict[str, str]] = field(default_factory=list)
    input_shape: list[int] | None = None
    labels: list[str] | None = None

    @classmethod
    def tabular(cls, names: list[str], labels: list[str] | None = None,
                dtypes: dict[str, str] | None = None) -> Signature:
        return cls("tabular", [{"name": n, "dtype": (dtypes or {}).get(n, "float64")} for n in names], None,
                   [str(x) for x in labels] if labels is not None else None)

    @classmethod
    def from_dict(cls, sig: Any) -> Signature:
        sig = sig or {}
        if isinstance(sig, Signature):
            return sig
        if not isinstance(sig, dict):
            raise _bad("signature", sig, "an object with input_kind, inputs, input_shape, labels")
        kind = sig.get("input_kind", "tabular")
        if kind not in INPUT_KINDS:
            raise _bad("signature.input_kind", kind, "one of " + ", ".join(INPUT_KINDS))
        inputs = sig.get("inputs") or []
        if not isinstance(inputs, list) or not all(
            isinstance(i, dict) and isinstance(i.get("name"), str) and i["name"] for i in inputs
        ):
            raise _bad("signature.inputs", inputs, 'a list of {"name": ..., "dtype": ...} objects')
        names = [i["name"] for i in inputs]
        if len(set(names)) != len(names):
            raise _bad("signature.inputs", names, "unique column names")
        inputs = [{"name": i["name"], "dtype": i.get("dtype", "float64")} for i in inputs]
        for i in inputs:
            if i["dtype"] not in DTYPES:
                raise _bad(f"signature.inputs[{i['name']}].dtype", i["dtype"], "one of " + ", ".join(DTYPES))
        labels = sig.get("labels")
        if labels is not None and (not isinstance(labels, list) or not labels):
            raise _bad("signature.labels", labels, "a non-empty list of class labels")
        shape = sig.get("input_shape")
        if shape is not None and (not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape)):
            raise _bad("signature.input_shape", shape, "a list of positive ints, or null")
        return cls(kind, inputs, shape, [str(x) for x in labels] if labels is not None else None)

    def to_dict(self) -> dict[str, Any]:
        return {"input_kind": self.input_kind, "inputs": [dict(i) for i in self.inputs],
                "input_shape": list(self.input_shape) if self.input_shape is not None else None,
                "labels": list(self.labels) if self.labels is not None else None}

    @property
    def names(self) -> list[str]:
        return [i["name"] for i in self.inputs]

    @property
    def numeric(self) -> bool:
        """A tabular signature whose every column is a number: rows can travel as one float array."""
        return self.input_kind == "tabular" and bool(self.inputs) and all(i["dtype"] in NUMERIC for i in self.inputs)


@dataclass
class Manifest:
    """slipway-model.json. ``problem_type`` None means unknown: the model is served through its own handlers
    (or its flavor's defaults) and answers in the framework's own shape."""

    framework: str
    model_file: str | None = None
    problem_type: str | None = None
    signature: Signature = field(default_factory=Signature)
    metrics: dict[str, float | None] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    # The script in code/ whose SageMaker handlers serve when there is no code/inference.py (script mode).
    entry_point: str | None = None
    # Set by the registry: {"verified": true, "file": "model.onnx", ...} or {"verified": false, "reason": ...}.
    onnx: dict[str, Any] | None = None
    format_version: int = 1

    @property
    def classifier(self) -> bool:
        return self.problem_type in CLASSIFIERS

    # -- reading and checking ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, raw: Any, folder: Path | None = None) -> Manifest:
        """Check a manifest dict against the contract. With ``folder``, files it names must exist there."""
        if not isinstance(raw, dict):
            raise _bad("(root)", type(raw).__name__, "a JSON object")
        if raw.get("format_version", 1) != 1:
            raise _bad("format_version", raw.get("format_version"), "1")
        framework = raw.get("framework")
        if framework not in FRAMEWORKS:
            raise _bad("framework", framework, "one of " + ", ".join(FRAMEWORKS))
        entry_point = raw.get("entry_point")
        if entry_point is not None and (not isinstance(entry_point, str) or entry_point.startswith("/")
                                        or ".." in entry_point.split("/") or not entry_point.endswith(".py")):
            raise _bad("entry_point", entry_point, "a .py file's path relative to code/, e.g. train.py")
        has_code = folder is not None and (
            (folder / "code" / "inference.py").is_file()
            or bool(entry_point and (folder / "code" / entry_point).is_file()))
        model_file = raw.get("model_file")
        if framework == "custom" or (model_file is None and has_code):
            model_file = model_file or None
        else:
            if not isinstance(model_file, str) or not model_file or model_file.startswith("/") or ".." in model_file:
                raise _bad("model_file", model_file, "a path relative to the artifact folder (e.g. model.joblib)")
            if folder is not None and not (folder / model_file).is_file():
                raise _bad("model_file", model_file, "a file that exists in the artifact")
        problem = raw.get("problem_type")
        if problem == "unknown":
            problem = None
        if problem is not None and problem not in PROBLEM_TYPES:
            raise _bad("problem_type", problem, "one of " + ", ".join(PROBLEM_TYPES) + ", or null (unknown)")
        signature = Signature.from_dict(raw.get("signature"))
        if problem in CLASSIFIERS and signature.labels is None:
            raise _bad("signature.labels", None, "the class labels in predict_proba column order (classifiers)")
        metrics, lineage = raw.get("metrics") or {}, raw.get("lineage") or {}
        for key, value in (("metrics", metrics), ("lineage", lineage)):
            if not isinstance(value, dict):
                raise _bad(key, value, "an object")
        if not all(isinstance(v, (int, float)) or v is None for v in metrics.values()):
            raise _bad("metrics", metrics, "numbers by metric name")
        datasets = lineage.get("datasets") or {}
        if not isinstance(datasets, dict) or not all(isinstance(v, str) for v in datasets.values()):
            raise _bad("lineage.datasets", datasets, 'channel -> dataset version, e.g. {"train": "cancer:1"}')
        onnx = raw.get("onnx")
        if onnx is not None and not isinstance(onnx, dict):
            raise _bad("onnx", onnx, "an object set by the registry")
        return cls(framework=framework, model_file=model_file, problem_type=problem, signature=signature,
                   metrics=dict(metrics), lineage=dict(lineage), created_at=raw.get("created_at"),
                   entry_point=entry_point, onnx=onnx)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = Path(folder) / MANIFEST
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise InvalidArgument(
                f"The artifact has no {MANIFEST}. Expected a model folder written to the contract in "
                "docs/developing.md, a .joblib estimator, or a SageMaker model.tar.gz with code/inference.py.",
                {"field": MANIFEST},
            ) from None
        except ValueError as exc:
            raise InvalidArgument(f"{MANIFEST} is not valid JSON: {exc}.", {"field": MANIFEST}) from None
        return cls.from_dict(raw, Path(folder))

    # -- writing --------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format_version": self.format_version, "framework": self.framework, "model_file": self.model_file,
            "problem_type": self.problem_type, "signature": self.signature.to_dict(),
            "metrics": dict(self.metrics), "lineage": dict(self.lineage), "created_at": self.created_at,
        }
        if self.entry_point is not None:
            out["entry_point"] = self.entry_point
        if self.onnx is not None:
            out["onnx"] = dict(self.onnx)
        return out

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True).encode() + b"\n"

    def write(self, folder: Path) -> None:
        """Check against ``folder``'s files, then write slipway-model.json there (temp file + rename)."""
        folder = Path(folder)
        checked = Manifest.from_dict(self.to_dict(), folder)
        tmp = folder / f".{MANIFEST}.part"
        tmp.write_bytes(checked.to_bytes())
        os.replace(tmp, folder / MANIFEST)

    def replace(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, **changes)


def read_manifest(folder: Path) -> Manifest:
    return Manifest.read(folder)
