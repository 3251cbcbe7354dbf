"""The model artifact contract (docs/developing.md): slipway-model.json checks, deterministic tar.gz.

Training writes artifacts to this contract, the registry validates and stores them, serving loads them.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument

__all__ = [
    "CLASSIFIERS",
    "FRAMEWORKS",
    "INPUT_KINDS",
    "MANIFEST",
    "PROBLEM_TYPES",
    "pack_artifact",
    "read_manifest",
    "unpack_artifact",
    "validate_manifest",
]

MANIFEST = "slipway-model.json"
FRAMEWORKS = ("sklearn", "pytorch", "keras", "onnx", "custom")
PROBLEM_TYPES = ("binary_classification", "multiclass_classification", "regression", "clustering", "transform")
CLASSIFIERS = ("binary_classification", "multiclass_classification")
INPUT_KINDS = ("tabular", "text", "image", "array")
DTYPES = ("float64", "float32", "int64", "int32", "bool", "string", "category", "object", "datetime64[ns]")


def _bad(field: str, value: Any, expected: str) -> InvalidArgument:
    shown = value if not isinstance(value, (dict, list)) or len(str(value)) < 200 else type(value).__name__
    return InvalidArgument(
        f"{MANIFEST}: field {field!r} has value {shown!r}. Expected {expected}. "
        "See 'Model artifact' in docs/developing.md.",
        {"field": field, "value": shown, "expected": expected},
    )


def validate_manifest(manifest: Any, folder: Path | None = None) -> dict[str, Any]:
    """Check a manifest against the contract; return it with optional fields filled in.

    With ``folder``, files it names (``model_file``) must exist there.
    """
    if not isinstance(manifest, dict):
        raise _bad("(root)", type(manifest).__name__, "a JSON object")
    m = dict(manifest)
    if m.get("format_version", 1) != 1:
        raise _bad("format_version", m.get("format_version"), "1")
    m["format_version"] = 1
    if m.get("framework") not in FRAMEWORKS:
        raise _bad("framework", m.get("framework"), "one of " + ", ".join(FRAMEWORKS))
    custom_code = folder is not None and (folder / "code" / "inference.py").is_file()
    model_file = m.get("model_file")
    if m["framework"] == "custom" or (model_file is None and custom_code):
        m.setdefault("model_file", None)
    else:
        if not isinstance(model_file, str) or not model_file or model_file.startswith("/") or ".." in model_file:
            raise _bad("model_file", model_file, "a path relative to the artifact folder (e.g. model.joblib)")
        if folder is not None and not (folder / model_file).is_file():
            raise _bad("model_file", model_file, "a file that exists in the artifact")
    problem = m.get("problem_type")
    if problem is not None and problem not in PROBLEM_TYPES:
        raise _bad("problem_type", problem, "one of " + ", ".join(PROBLEM_TYPES))
    # PyTorch and Keras predictors can read the classes off the model's output (a script's model.keras).
    if problem is None and m["framework"] not in ("custom", "pytorch", "keras") and not custom_code:
        raise _bad("problem_type", problem, "one of " + ", ".join(PROBLEM_TYPES))
    sig = m.get("signature") or {}
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
    for i in inputs:
        i.setdefault("dtype", "float64")
        if i["dtype"] not in DTYPES:
            raise _bad(f"signature.inputs[{i['name']}].dtype", i["dtype"], "one of " + ", ".join(DTYPES))
    labels = sig.get("labels")
    if labels is not None and (not isinstance(labels, list) or not labels):
        raise _bad("signature.labels", labels, "a non-empty list of class labels")
    if problem in CLASSIFIERS and labels is None:
        raise _bad("signature.labels", labels, "the class labels in predict_proba column order (classifiers)")
    shape = sig.get("input_shape")
    if shape is not None and (not isinstance(shape, list) or not all(isinstance(d, int) and d > 0 for d in shape)):
        raise _bad("signature.input_shape", shape, "a list of positive ints, or null")
    m["signature"] = {"input_kind": kind, "inputs": inputs, "input_shape": shape,
                      "labels": [str(x) for x in labels] if labels is not None else None}
    for key in ("metrics", "lineage"):
        if not isinstance(m.get(key) or {}, dict):
            raise _bad(key, m.get(key), "an object")
        m[key] = m.get(key) or {}
    if not all(isinstance(v, (int, float)) or v is None for v in m["metrics"].values()):
        raise _bad("metrics", m["metrics"], "numbers by metric name")
    datasets = m["lineage"].get("datasets") or {}
    if not isinstance(datasets, dict) or not all(isinstance(v, str) for v in datasets.values()):
        raise _bad("lineage.datasets", datasets, 'channel -> dataset version, e.g. {"train": "cancer:1"}')
    return m


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
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
    return validate_manifest(raw, folder)


def pack_artifact(folder: Path, dest: Path) -> None:
    """A deterministic tar.gz of ``folder`` (sorted names, zero times and owners): same files, same bytes."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
                for p in files:
                    info = tarfile.TarInfo(p.relative_to(folder).as_posix())
                    info.size = p.stat().st_size
                    info.mode = 0o644
                    info.mtime = 0
                    with open(p, "rb") as f:
                        tar.addfile(info, f)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def unpack_artifact(tar_path: Path, dest: Path) -> None:
    """Extract a model.tar.gz (regular files and folders only; nothing may land outside ``dest``)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tar_path, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                name = m.name.lstrip("./") if m.name.startswith("./") else m.name
                if m.issym() or m.islnk() or not (m.isfile() or m.isdir()):
                    raise InvalidArgument(
                        f"The archive entry {m.name!r} is a link or a special file. Expected only files and folders.",
                        {"field": "artifact", "value": m.name},
                    )
                if name.startswith("/") or ".." in Path(name).parts:
                    raise InvalidArgument(
                        f"The archive entry {m.name!r} points outside the artifact. Expected relative paths.",
                        {"field": "artifact", "value": m.name},
                    )
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as exc:
        raise InvalidArgument(
            f"The artifact is not a readable tar.gz ({exc}). Expected a model.tar.gz, a model folder or a .joblib file.",
            {"field": "artifact"},
        ) from None


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"


def is_tar(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(2)
        if head == b"\x1f\x8b":
            return True
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def read_json_bytes(data: bytes) -> Any:
    return json.load(io.BytesIO(data))
