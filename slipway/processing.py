"""Built-in processing: split, scale, one-hot and impute, run by the job runner as a processing job.

``slipway process --builtin split --input raw=cancer:1 --output train=cancer-train --output test=cancer-test``
is an ordinary processing job (same executor, sandbox and logs as a script's); instead of a user script the
runner starts ``python -m slipway.processing NAME`` in the job's folder. It reads the one input channel under
``/opt/ml/processing/input/<channel>`` (a table file, or a folder of CSV or Parquet files with the same columns,
concatenated in name order) and writes each output channel's CSV (Parquet for a Parquet input) under
``/opt/ml/processing/output/<channel>``, which the server pushes as new dataset versions with lineage.

``check_parameters`` is what the server checks when the job (or a pipeline's process step) is submitted;
``apply`` is the transform itself, on a pandas frame. Nothing here runs in the server process but the checks.
"""

from __future__ import annotations

import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from slipway.errors import InvalidArgument

BUILTINS = ("split", "scale", "one-hot", "impute")
SPLIT_CHANNELS = ("train", "validation", "test")
_DEFAULT_SPLIT = {2: {"train": 0.8, "validation": 0.2, "test": 0.2}, 3: {"train": 0.7, "validation": 0.15,
                                                                          "test": 0.15}}
# parameter -> (expected, allowed values or None); "columns" is a list of column names
_PARAMS: dict[str, dict[str, tuple[str, tuple[Any, ...] | None]]] = {
    "split": {"train": ("fraction", None), "validation": ("fraction", None), "test": ("fraction", None),
              "stratify": ("boolean", None), "seed": ("integer", None), "label": ("string", None)},
    "scale": {"method": ("string", ("standard", "minmax")), "columns": ("columns", None), "label": ("string", None)},
    "one-hot": {"columns": ("columns", None), "label": ("string", None)},
    "impute": {"strategy": ("string", ("mean", "median", "most_frequent")), "columns": ("columns", None),
               "label": ("string", None)},
}


def _bad(builtin: str, key: str, value: Any, expected: Any, why: str) -> InvalidArgument:
    return InvalidArgument(f"Built-in {builtin!r}: parameter {key}={value!r} {why}.",
                           {"field": f"hyperparameters.{key}", "value": value, "expected": expected})


def _typed(builtin: str, key: str, value: Any, kind: str, allowed: tuple[Any, ...] | None) -> Any:
    """A parameter in its type (CLI values come as strings)."""
    try:
        if kind == "fraction":
            v = float(value)
            if not (0 < v < 1) or math.isnan(v):
                raise ValueError
            return v
        if kind == "integer":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if kind == "columns":
            cols = [c.strip() for c in value.split(",")] if isinstance(value, str) else value
            if not isinstance(cols, list) or not cols or not all(isinstance(c, str) and c for c in cols):
                raise ValueError
            return cols
        if not isinstance(value, str) or not value or (allowed and value not in allowed):
            raise ValueError
        return value
    except (TypeError, ValueError):
        expected: Any = list(allowed) if allowed else {
            "fraction": "a number between 0 and 1", "integer": "an integer", "boolean": "true or false",
            "columns": "a list of column names (or a comma-separated string)", "string": "a string"}[kind]
        raise _bad(builtin, key, value, expected, f"is not valid; expected {expected}") from None


def check_parameters(builtin: str | None, params: dict[str, Any], inputs: list[str],
                     outputs: list[str]) -> dict[str, Any]:
    """The parameters of a built-in, typed and complete (defaults filled in); 400 naming the field otherwise.
    ``inputs``/``outputs`` are the job's channel names (datasets may be references, unknown until a run)."""
    if builtin not in BUILTINS:
        raise InvalidArgument(f"Built-in processing {builtin!r} is not known. Expected one of: "
                              f"{', '.join(BUILTINS)}.", {"field": "builtin", "value": builtin,
                                                          "expected": list(BUILTINS)})
    spec = _PARAMS[builtin]
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise _bad(builtin, unknown[0], params[unknown[0]], sorted(spec), "is not a parameter of it; its "
                   f"parameters: {', '.join(sorted(spec))}")
    out = {k: _typed(builtin, k, v, *spec[k]) for k, v in params.items()}
    if len(inputs) != 1:
        raise InvalidArgument(f"Built-in {builtin!r} reads exactly one input channel; got {len(inputs)}.",
                              {"field": "inputs", "value": inputs, "expected": "one CHANNEL=DATASET:VERSION"})
    if builtin == "split":
        bad = sorted(set(outputs) - set(SPLIT_CHANNELS))
        if bad or len(outputs) < 2:
            raise InvalidArgument(
                f"Built-in 'split' writes two or three of the output channels {', '.join(SPLIT_CHANNELS)}; got "
                f"{', '.join(outputs) or 'none'}.", {"field": "outputs", "value": outputs,
                                                     "expected": list(SPLIT_CHANNELS)})
        for ch in SPLIT_CHANNELS:
            if ch in out and ch not in outputs:
                raise _bad(builtin, ch, out[ch], outputs, f"is a fraction for output {ch!r}, which the job does "
                           "not have")
        given = [ch for ch in outputs if ch in out]
        rest = [ch for ch in outputs if ch not in out]
        if rest:
            left = 1.0 - sum(out[ch] for ch in given)
            defaults = _DEFAULT_SPLIT[len(outputs)]
            share = sum(defaults[ch] for ch in rest)
            for ch in rest:
                out[ch] = round(left * defaults[ch] / share, 12) if given else defaults[ch]
        total = sum(out[ch] for ch in outputs)
        if abs(total - 1.0) > 1e-6 or any(out[ch] <= 0 for ch in outputs):
            key = given[-1] if given else outputs[0]
            raise _bad(builtin, key, params.get(key, out[key]), "fractions of the outputs summing to 1",
                       f"leaves the outputs' fractions summing to {total:.4g}, not 1 "
                       f"({', '.join(f'{ch}={out[ch]:.4g}' for ch in outputs)})")
        out.setdefault("seed", 0)
        out.setdefault("stratify", True)
    else:
        if len(outputs) != 1:
            raise InvalidArgument(f"Built-in {builtin!r} writes exactly one output channel; got {len(outputs)}.",
                                  {"field": "outputs", "value": outputs, "expected": "one CHANNEL=DATASET"})
        if builtin == "scale":
            out.setdefault("method", "standard")
        if builtin == "impute":
            out.setdefault("strategy", "mean")
    return out


def check_columns(builtin: str, params: dict[str, Any], columns: list[str], numeric: set[str]) -> None:
    """Named columns (and the label) exist in the input version's schema; scaling names numeric ones."""
    if not columns:
        return
    label = params.get("label")
    if label and label not in columns:
        raise _bad(builtin, "label", label, columns, "is not a column of the input")
    for col in params.get("columns") or []:
        if col not in columns:
            raise _bad(builtin, "columns", col, columns, "is not a column of the input")
        if builtin == "scale" and col not in numeric:
            raise _bad(builtin, "columns", col, sorted(numeric), "is not a numeric column; scaling needs numbers")
        if builtin in ("impute", "one-hot", "scale") and col == label:
            raise _bad(builtin, "columns", col, "columns other than the label", "is the label, which is kept as is")


# -- a folder of tables ---------------------------------------------------------------------------

TABLE_SUFFIXES = (".csv", ".parquet")
_HEAD_BYTES = 64 << 10  # a CSV file's first bytes: its header and enough rows to tell numbers from text


def table_suffix(names: list[str], where: str) -> str:
    """The one table format of a folder's files (".csv" or ".parquet"); 400 naming a file that is not one,
    or two files of different formats."""
    if not names:
        raise InvalidArgument(f"{where} holds no file; expected CSV or Parquet files.",
                              {"field": "inputs", "value": where, "expected": list(TABLE_SUFFIXES)})
    suffixes = [Path(n).suffix.lower() for n in names]
    for name, suffix in zip(names, suffixes, strict=True):
        if suffix not in TABLE_SUFFIXES:
            raise InvalidArgument(
                f"{where}: file {name!r} is not a table; a built-in reads a folder of CSV or Parquet files.",
                {"field": "inputs", "value": name, "expected": list(TABLE_SUFFIXES)})
    for name, suffix in zip(names, suffixes, strict=True):
        if suffix != suffixes[0]:
            raise InvalidArgument(
                f"{where}: files {names[0]!r} and {name!r} are of different formats ({suffixes[0]}, {suffix}); "
                "a built-in reads a folder of files of one format.",
                {"field": "inputs", "value": [names[0], name], "expected": f"only {suffixes[0]} files"})
    return suffixes[0]


def same_columns(headers: list[tuple[str, list[str]]], where: str) -> list[str]:
    """The columns of a folder's tables (the first file's, in its order); 400 naming the first file and one
    whose columns differ (a different order is fine: rows are matched by name)."""
    first, columns = headers[0]
    for name, cols in headers[1:]:
        if set(cols) != set(columns):
            missing = [c for c in columns if c not in cols]
            extra = [c for c in cols if c not in columns]
            what = "; ".join(part for part in (f"without {', '.join(missing)}" if missing else "",
                                               f"with {', '.join(extra)}" if extra else "") if part)
            raise InvalidArgument(
                f"{where}: files {first!r} and {name!r} have different columns ({name!r} {what}); the files "
                "of a folder a built-in reads must have the same columns.",
                {"field": "inputs", "value": [first, name], "expected": columns})
    return columns


def _csv_head(head: bytes) -> Any:
    """A CSV file's columns and first rows (whole lines only) from its first bytes."""
    import pandas as pd

    if len(head) >= _HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    return pd.read_csv(io.BytesIO(head))


def folder_headers(tar_file: Any, where: str) -> tuple[list[str], set[str]]:
    """The columns of a folder version (its stored tar, seekable: only headers and each file's first bytes, or
    a Parquet file's footer, are read) and which of them are numeric (the first file's); 400 when a file is
    not a table or the files disagree on columns, naming them."""
    import tarfile

    with tarfile.open(fileobj=tar_file, mode="r:") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and not any(
            part.startswith(".") for part in Path(m.name).parts)), key=lambda m: m.name)
        names = [m.name.removeprefix("./") for m in members]
        suffix = table_suffix(names, where)
        headers: list[tuple[str, list[str]]] = []
        numeric: set[str] = set()
        for name, member in zip(names, members, strict=True):
            f = tar.extractfile(member)
            assert f is not None
            try:
                if suffix == ".parquet":
                    import pyarrow as pa
                    import pyarrow.parquet as pq

                    schema = pq.read_schema(f)
                    cols = list(schema.names)
                    nums = {fld.name for fld in schema if pa.types.is_integer(fld.type) or
                            pa.types.is_floating(fld.type)}
                else:
                    frame = _csv_head(f.read(_HEAD_BYTES))
                    cols = [str(c) for c in frame.columns]
                    nums = set(_numeric(frame, None))
            except Exception as exc:
                raise InvalidArgument(f"{where}: file {name!r} cannot be read as {suffix[1:]} ({exc}).",
                                      {"field": "inputs", "value": name, "expected": suffix[1:]}) from None
            if not headers:
                numeric = nums
            headers.append((name, cols))
    return same_columns(headers, where), numeric


# -- the transforms ------------------------------------------------------------------------------


def _numeric(frame: Any, label: str | None) -> list[str]:
    import pandas as pd

    return [c for c in frame.columns if c != label and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def split(frame: Any, fractions: dict[str, float], label: str | None, stratify: bool, seed: int) -> dict[str, Any]:
    """Rows shuffled with ``seed`` and cut by ``fractions`` (in order train, validation, test); stratified by
    the label when there is one (each class cut in the same proportions)."""
    import numpy as np

    names = [ch for ch in SPLIT_CHANNELS if ch in fractions]
    rng = np.random.default_rng(seed)
    groups = (list(frame.groupby(label, sort=True, dropna=False).indices.values())
              if stratify and label and label in frame.columns else [np.arange(len(frame))])
    picked: dict[str, list[int]] = {ch: [] for ch in names}
    for idx in groups:
        idx = rng.permutation(np.asarray(idx))
        bounds = np.rint(np.cumsum([fractions[ch] for ch in names]) * len(idx)).astype(int)
        start = 0
        for ch, end in zip(names, bounds, strict=True):
            picked[ch].extend(idx[start:end].tolist())
            start = end
    return {ch: frame.iloc[sorted(rows)].reset_index(drop=True) for ch, rows in picked.items()}


def scale(frame: Any, method: str, columns: list[str] | None, label: str | None) -> Any:
    """Numeric columns (all but the label, or ``columns``) to mean 0 / std 1 (standard) or [0, 1] (minmax)."""
    out = frame.copy()
    for col in columns or _numeric(frame, label):
        x = out[col].astype(float)
        if method == "standard":
            std = x.std(ddof=0)
            out[col] = (x - x.mean()) / (std if std > 0 else 1.0)
        else:
            span = x.max() - x.min()
            out[col] = (x - x.min()) / (span if span > 0 else 1.0)
    return out


def one_hot(frame: Any, columns: list[str] | None, label: str | None) -> Any:
    """Categorical columns (all non-numeric but the label, or ``columns``) to one 0/1 column per value,
    named ``column_value``; the label is kept as it is, last."""
    import pandas as pd

    cols = columns or [c for c in frame.columns if c != label and c not in _numeric(frame, label)]
    out = pd.get_dummies(frame, columns=cols, prefix=cols, dtype=int) if cols else frame.copy()
    if label and label in out.columns:
        out = out[[c for c in out.columns if c != label] + [label]]
    return out


def impute(frame: Any, strategy: str, columns: list[str] | None, label: str | None) -> Any:
    """Missing values filled per column: ``mean``/``median`` of numeric columns, ``most_frequent`` of any."""
    out = frame.copy()
    cols = columns or [c for c in frame.columns if c != label and frame[c].isna().any()]
    for col in cols:
        if strategy == "most_frequent":
            mode = out[col].mode(dropna=True)
            fill = mode.iloc[0] if len(mode) else None
        elif col in _numeric(frame, label):
            fill = out[col].mean() if strategy == "mean" else out[col].median()
        else:
            continue  # mean/median of text: left as is (use most_frequent for those columns)
        if fill is not None:
            out[col] = out[col].fillna(fill)
    return out


def apply(builtin: str, frame: Any, params: dict[str, Any], outputs: list[str]) -> dict[str, Any]:
    """Output channel -> frame."""
    label = params.get("label")
    if builtin == "split":
        return split(frame, {ch: params[ch] for ch in outputs}, label, params["stratify"], params["seed"])
    if builtin == "scale":
        result = scale(frame, params["method"], params.get("columns"), label)
    elif builtin == "one-hot":
        result = one_hot(frame, params.get("columns"), label)
    else:
        result = impute(frame, params["strategy"], params.get("columns"), label)
    return {outputs[0]: result}


# -- in the job's process ------------------------------------------------------------------------


def _read(folder: Path) -> tuple[Any, str, str]:
    """The input's table: (frame, file stem, suffix of the format to write back: .parquet or .csv). A folder
    of CSV or Parquet files (same columns) is all its files, sorted by name, one after the other."""
    import pandas as pd

    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise SystemExit(f"Expected a data file in {folder}; found none.")
    if len(files) == 1:
        f = files[0]
        if f.suffix in (".jsonl", ".json"):
            return pd.read_json(f, lines=True), f.stem, ".csv"
        if f.suffix == ".parquet":
            return pd.read_parquet(f), f.stem, ".parquet"
        return pd.read_csv(f), f.stem, ".csv"
    names = [p.relative_to(folder).as_posix() for p in files]
    try:
        suffix = table_suffix(names, f"Input folder {folder.name!r}")
        frames = [pd.read_parquet(p) if suffix == ".parquet" else pd.read_csv(p) for p in files]
        columns = same_columns([(n, [str(c) for c in f.columns]) for n, f in zip(names, frames, strict=True)],
                               f"Input folder {folder.name!r}")
    except InvalidArgument as exc:
        raise SystemExit(exc.message) from None
    frame = pd.concat([f[columns] for f in frames], ignore_index=True)
    print(f"Read {len(files)} {suffix[1:]} files of input {folder.name!r}: {', '.join(names[:5])}"
          f"{', ...' if len(names) > 5 else ''}", flush=True)
    return frame, folder.name, suffix


def _write(frame: Any, folder: Path, name: str, suffix: str) -> Path:
    """An output table: Parquet when the input was Parquet (its column types kept), else CSV."""
    target = folder / f"{name}{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(target, index=False)
    else:
        frame.to_csv(target, index=False)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m slipway.processing NAME``, in the job's folder (the runner's working directory)."""
    argv = sys.argv[1:] if argv is None else argv
    builtin = argv[0]
    from slipway.training.contract import JobPaths

    job = json.loads(JobPaths(os.environ["SLIPWAY_JOB_DIR"]).job_file.read_text())
    params = dict(job.get("hyperparameters") or {})
    if job.get("label") and not params.get("label"):
        params["label"] = job["label"]
    outputs = list(job.get("outputs") or {})
    (channel,) = list(job.get("channels") or {})
    folder = Path(os.environ[f"SM_PROCESSING_INPUT_{channel.upper().replace('-', '_')}"])
    frame, stem, suffix = _read(folder)
    print(f"Built-in {builtin}: {len(frame)} rows x {len(frame.columns)} columns from input {channel!r}; "
          f"parameters {json.dumps(params, sort_keys=True)}", flush=True)
    if params.get("label") and params["label"] not in frame.columns:
        raise SystemExit(f"The label {params['label']!r} is not a column of the input ({', '.join(frame.columns)}).")
    for ch, out in apply(builtin, frame, params, outputs).items():
        target = _write(out, Path(os.environ[f"SM_PROCESSING_OUTPUT_{ch.upper().replace('-', '_')}"]),
                        f"{stem}-{ch}", suffix)
        print(f"Output {ch!r}: {len(out)} rows x {len(out.columns)} columns -> {target.name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
