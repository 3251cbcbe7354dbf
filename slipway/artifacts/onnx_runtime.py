"""The ONNX fast path: run a verified export, and verify a tabular flavor's export (its converter is the flavor's).

An export is used for serving only when it was verified at registration: labels equal and probabilities
(or values) within ``TOLERANCE`` of the framework's own on sample rows. The outcome is kept in the
manifest's ``onnx`` field, so ``slipway models show`` can say which runtime serves and why.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.manifest import CLASSIFIERS, NUMERIC, Manifest

__all__ = ["ONNX_FILE", "SAMPLES_FILE", "TOLERANCE", "OnnxModel", "OnnxNet", "column_feeds", "export_estimator",
           "installed", "runtime_of", "sample_frame", "sample_rows", "session"]

log = logging.getLogger("slipway.onnx")
ONNX_FILE = "model.onnx"
SAMPLES_FILE = "samples.json"  # up to 64 rows of training data, written by save_sklearn_artifact(samples=…)
TOLERANCE = 1e-5
SERVABLE = CLASSIFIERS + ("regression",)


def runtime_of(manifest: dict[str, Any]) -> tuple[str, str]:
    """(runtime that serves, why) read off a manifest."""
    info = manifest.get("onnx") or {}
    if info.get("verified"):
        batches = f" in batches of {', '.join(map(str, info['batches']))}" if info.get("batches") else ""
        return "onnxruntime", (f"ONNX export verified on {info.get('rows')} {info.get('inputs', 'rows')}{batches}, "
                               f"max difference {info.get('max_abs_diff', 0):.1e} ({info.get('dtype')})")
    framework = manifest.get("framework") or "custom"
    name = {"sklearn": "scikit-learn"}.get(framework, framework)
    return name, info.get("reason") or "no ONNX export"


def sample_rows(folder: Path, inputs: list[dict[str, Any]], n: int = 64) -> np.ndarray:
    """Rows to verify on: the artifact's samples file, else seeded rows at several scales."""
    path = folder / SAMPLES_FILE
    if path.is_file():
        rows = np.asarray(json.loads(path.read_text()), dtype=np.float64)
        if rows.ndim == 2 and rows.shape[1] == len(inputs) and len(rows):
            return rows
    rng = np.random.default_rng(0)
    scales = np.repeat([0.1, 1.0, 10.0, 100.0, 1000.0], -(-n // 5))[:n]
    return np.abs(rng.standard_normal((n, len(inputs)))) * scales[:, None]


def sample_frame(folder: Path, inputs: list[dict[str, Any]]) -> Any:
    """The samples file as a DataFrame with the signature's columns (strings and numbers), or None."""
    import pandas as pd

    path = folder / SAMPLES_FILE
    if not path.is_file():
        return None
    rows = json.loads(path.read_text())
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and len(r) == len(inputs) for r in rows):
        return None
    frame = pd.DataFrame(rows, columns=[i["name"] for i in inputs])
    for i in inputs:
        if i.get("dtype", "float64") in NUMERIC:
            frame[i["name"]] = pd.to_numeric(frame[i["name"]], errors="coerce").astype(np.float64)
    return frame


def column_feeds(inputs: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """(column, is a string) per signature column: an export with one ONNX input per column takes these."""
    return [(str(i["name"]), i.get("dtype", "float64") not in NUMERIC) for i in inputs]


def session(data: bytes | Path) -> Any:
    """An ONNX Runtime CPU session on one thread."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # One thread: a request's rows are few, and a replica's workers are the parallelism (safe to fork).
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    source = str(data) if isinstance(data, Path) else data
    return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])


class OnnxModel:
    """An ONNX Runtime session answering like the estimator: ``predict_proba`` / ``predict`` on an ndarray."""

    def __init__(self, data: bytes | Path, dtype: str, classifier: bool,
                 columns: list[tuple[str, bool]] | None = None, text: bool = False) -> None:
        self.session = session(data)
        self.input = self.session.get_inputs()[0].name
        self.dtype = np.float64 if dtype == "float64" else np.float32
        self.classifier = classifier
        # One input per column (a table with string columns): rows arrive as a DataFrame, fed column by column.
        self.columns = columns
        self.text = text  # a text model: a list of strings in, one string input
        # by position: the converter may rename a column's input ("mean radius" -> "mean_radius")
        self._names = [i.name for i in self.session.get_inputs()]
        if columns is not None and len(self._names) != len(columns):
            raise ValueError(f"the export takes {len(self._names)} inputs; the signature has {len(columns)} columns")
        outputs = [o.name for o in self.session.get_outputs()]
        self._proba = [outputs[1]] if classifier and len(outputs) > 1 else None
        self._value = [outputs[0]]

    def _feed(self, x: Any) -> dict[str, Any]:
        if self.text:
            return {self.input: np.array([str(t) for t in x], dtype=object).reshape(-1, 1)}
        if self.columns is None:
            return {self.input: np.asarray(x).astype(self.dtype, copy=False)}
        feed = {}
        rows = isinstance(x, np.ndarray)  # an object array of rows (the replica's fast path), else a DataFrame
        for j, (input_name, (name, text)) in enumerate(zip(self._names, self.columns)):
            if text:  # a missing string is "" (the export's imputers take "" as missing)
                col = x[:, j].tolist() if rows else x[name].tolist()
                values = np.array(["" if v is None or v != v else str(v) for v in col], dtype=object)
            elif rows:
                values = np.array([np.nan if v is None else v for v in x[:, j].tolist()], dtype=self.dtype)
            else:
                values = np.asarray(x[name].to_numpy(dtype=np.float64, na_value=np.nan), dtype=self.dtype)
            feed[input_name] = values.reshape(-1, 1)
        return feed

    def predict_proba(self, x: Any) -> np.ndarray:
        assert self._proba is not None
        return self.session.run(self._proba, self._feed(x))[0]

    def predict(self, x: Any) -> np.ndarray:
        out = self.session.run(self._value, self._feed(x))[0]
        return out.reshape(len(x)) if out.ndim == 2 and out.shape[1] == 1 else out


class OnnxNet:
    """An exported network with one input and one output: ``net(array) -> array`` (a PyTorch model's forward)."""

    def __init__(self, data: bytes | Path) -> None:
        self.session = session(data)
        self.input = self.session.get_inputs()[0].name
        self._output = [self.session.get_outputs()[0].name]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(self._output, {self.input: x})[0]
        return out


def export_estimator(folder: Path, manifest: Manifest, estimator: Any, convert: Callable[..., bytes],
                     convert_columns: Callable[..., bytes] | None = None,
                     convert_text: Callable[..., bytes] | None = None) -> dict[str, Any]:
    """Export a tabular model with ``convert(estimator, n_features, dtype, classifier) -> bytes`` and verify it.

    A signature with string columns needs ``convert_columns(estimator, inputs, dtype, classifier) -> bytes``:
    an export with one input per column (``column_feeds``), verified on the samples file's rows. A text
    classifier needs ``convert_text(estimator, classifier) -> bytes`` (one string input), verified on the
    samples file's texts.
    Writes model.onnx to ``folder`` when verified. Returns the manifest's ``onnx`` field; never raises for
    a model that does not convert: the reason is recorded and the original serves.
    """
    sig = manifest.signature
    inputs = sig.inputs
    problem = manifest.problem_type
    if problem in CLASSIFIERS and sig.input_kind == "text" and convert_text is not None:
        return _export_text(folder, manifest, estimator, convert_text)
    if problem not in SERVABLE or sig.input_kind != "tabular" or not inputs:
        return {"verified": False, "reason": f"{problem or 'unknown problem type'} models on {sig.input_kind} input "
                "are not exported"}
    if any(i.get("dtype", "float64") not in NUMERIC for i in inputs):
        strings = [i["name"] for i in inputs if i.get("dtype", "float64") not in NUMERIC]
        if convert_columns is None:
            return {"verified": False, "reason": f"the signature has non-numeric features ({', '.join(strings[:5])})"
                    f"; {manifest.framework} models are exported on numbers only"}
        return _export_columns(folder, manifest, estimator, convert_columns)
    if estimator is None:
        estimator = _load_estimator(folder, manifest)
        if isinstance(estimator, str):
            return {"verified": False, "reason": estimator}
    classifier = problem in CLASSIFIERS
    rows = sample_rows(folder, inputs)
    names = [i["name"] for i in inputs]
    wants_frame = hasattr(estimator, "feature_names_in_")
    if wants_frame:
        import pandas as pd

        expected_in: Any = pd.DataFrame(rows, columns=names)
    else:
        expected_in = rows
    try:
        if classifier:
            want = np.asarray(estimator.predict_proba(expected_in), dtype=np.float64)
        else:
            want = np.asarray(estimator.predict(expected_in), dtype=np.float64).reshape(len(rows), -1)
    except Exception as exc:  # the model cannot predict its own sample rows: nothing to verify against
        return {"verified": False, "reason": f"the model failed on the sample rows: {type(exc).__name__}: {exc}"}
    return _verify_dtypes(folder, estimator, want, rows, classifier,
                          lambda dtype: convert(estimator, len(inputs), dtype, classifier),
                          lambda data, name: OnnxModel(data, name, classifier), {})


def _export_columns(folder: Path, manifest: Manifest, estimator: Any, convert: Callable[..., bytes]) -> dict[str, Any]:
    """``export_estimator`` for a table with string columns: one ONNX input per column, verified on the
    samples file (training rows); without samples there is nothing to verify on, so nothing is exported."""
    inputs = manifest.signature.inputs
    frame = sample_frame(folder, inputs)
    if frame is None:
        return {"verified": False, "reason": "the signature has string columns and the artifact has no sample rows "
                f"({SAMPLES_FILE}) to verify an export on"}
    if estimator is None:
        estimator = _load_estimator(folder, manifest)
        if isinstance(estimator, str):
            return {"verified": False, "reason": estimator}
    classifier = manifest.problem_type in CLASSIFIERS
    try:
        want = np.asarray(estimator.predict_proba(frame) if classifier else estimator.predict(frame), dtype=np.float64)
    except Exception as exc:  # the model cannot predict its own sample rows: nothing to verify against
        return {"verified": False, "reason": f"the model failed on the sample rows: {type(exc).__name__}: {exc}"}
    want = want if classifier else want.reshape(len(frame), -1)
    feeds = column_feeds(inputs)
    return _verify_dtypes(folder, estimator, want, frame, classifier,
                          lambda dtype: convert(estimator, inputs, dtype, classifier),
                          lambda data, name: OnnxModel(data, name, classifier, feeds), {"feeds": "columns"})


def _load_estimator(folder: Path, manifest: Manifest) -> Any:
    """The artifact's estimator, or why it could not be loaded (a string)."""
    import joblib

    try:
        return joblib.load(folder / (manifest.model_file or ""))
    except Exception as exc:  # unloadable: serving will say so when it is deployed
        return f"the model could not be loaded: {type(exc).__name__}: {exc}"[:300]


def _verify_dtypes(folder: Path, estimator: Any, want: np.ndarray, rows: Any, classifier: bool,
                   convert: Callable[[Any], bytes], load: Callable[[bytes, str], OnnxModel],
                   extra: dict[str, Any]) -> dict[str, Any]:
    """Convert at float32 and float64 (the likelier first) and keep the first export that answers ``want``
    on ``rows`` within TOLERANCE with the same labels; the manifest's ``onnx`` field either way."""
    reasons = []
    # Trees compare float32 inputs, so their float32 export takes the same branches (a float64 one can
    # differ by a whole tree's vote near a threshold); linear models compute in float64.
    order = (np.float32, np.float64) if _tree_based(estimator) else (np.float64, np.float32)
    for dtype in order:
        name = "float64" if dtype == np.float64 else "float32"
        try:
            with warnings.catch_warnings():  # converters warn about their frameworks' deprecations
                warnings.simplefilter("ignore")
                data = convert(dtype)
            model = load(data, name)
            got = (model.predict_proba(rows) if classifier else model.predict(rows)).astype(np.float64)
            got = got.reshape(want.shape)
        except Exception as exc:  # converters and onnxruntime refuse many things, each in its own way
            reasons.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
            continue
        diff = float(np.max(np.abs(got - want))) if want.size else 0.0
        same_labels = not classifier or bool(np.array_equal(got.argmax(axis=1), want.argmax(axis=1)))
        if diff <= TOLERANCE and same_labels:
            (folder / ONNX_FILE).write_bytes(data)
            return {"verified": True, "file": ONNX_FILE, "dtype": name, "rows": int(len(rows)), **extra,
                    "max_abs_diff": diff, "tolerance": TOLERANCE}
        reasons.append(f"{name}: differs from the original by {diff:.1e}" + ("" if same_labels else ", labels differ"))
    return {"verified": False, "reason": "ONNX export not verified (" + "; ".join(reasons) + ")"}


def _export_text(folder: Path, manifest: Manifest, estimator: Any, convert: Callable[..., bytes]) -> dict[str, Any]:
    """``export_estimator`` for a text classifier: one string input, verified on the samples file's texts."""
    path = folder / SAMPLES_FILE
    texts = json.loads(path.read_text()) if path.is_file() else None
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return {"verified": False, "reason": f"the artifact has no sample texts ({SAMPLES_FILE}) to verify an export on"}
    if estimator is None:
        estimator = _load_estimator(folder, manifest)
        if isinstance(estimator, str):
            return {"verified": False, "reason": estimator}
    try:
        want = np.asarray(estimator.predict_proba(texts), dtype=np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = convert(estimator, True)
        got = OnnxModel(data, "float32", True, text=True).predict_proba(texts).astype(np.float64)
    except Exception as exc:  # converters and onnxruntime refuse many things, each in its own way
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return {"verified": False, "reason": f"ONNX export not verified (float32: {type(exc).__name__}: {first})"}
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    same_labels = bool(np.array_equal(got.argmax(axis=1), want.argmax(axis=1)))
    if diff <= TOLERANCE and same_labels:
        (folder / ONNX_FILE).write_bytes(data)
        return {"verified": True, "file": ONNX_FILE, "dtype": "float32", "rows": len(texts), "inputs": "texts",
                "feeds": "text", "max_abs_diff": diff, "tolerance": TOLERANCE}
    return {"verified": False, "reason": f"ONNX export not verified (float32: differs from the original by {diff:.1e}"
            + ("" if same_labels else ", labels differ") + ")"}


def installed(*modules: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except (ImportError, ValueError):  # a finder that refuses the module: as good as missing
        return False


def _tree_based(estimator: Any) -> bool:
    if getattr(estimator, "tree_based", False):  # boosters behind an adapter say so
        return True
    steps = getattr(estimator, "steps", None)
    final = steps[-1][1] if steps else estimator
    if getattr(final, "tree_based", False):
        return True
    members = np.ravel(np.asarray(getattr(final, "estimators_", []), dtype=object))[:1]
    return hasattr(final, "tree_") or any(hasattr(m, "tree_") for m in members)
