"""The one request/response codec: JSON / CSV / NumPy (and text) bodies in, predictions or bare arrays out.

``decode`` checks a body against a model's signature; ``decode_instances`` reads a body without one
(networks, SageMaker default handlers); ``encode`` renders Slipway's label/confidence answer and
``encode_array`` a framework container's bare answer. Every rejection is an ``InvalidArgument`` (415 and
406 are its subclasses) whose message names the field, the bad value and what was expected, so a caller
can fix the request; nothing here raises anything else for bad input.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np
import orjson

from slipway.errors import InvalidArgument, NotAcceptable, UnsupportedMediaType

__all__ = ["accept_media", "check_finite", "decode", "decode_instances", "encode", "encode_array", "jsonable",
           "media_type", "missing_values", "wants_csv"]

NUMERIC = {"float64", "float32", "int64", "int32", "bool"}
SHAPES = ('{"instances": [[...], ...]}, {"inputs": ...}, [{"feature": value, ...}], '
          '{"dataframe_split": {"columns": [...], "data": [[...]]}}')


def describe_signature(sig: dict[str, Any], limit: int = 40) -> str:
    inputs = sig.get("inputs") or []
    shown = ", ".join(f"{i['name']} ({i.get('dtype', 'float64')})" for i in inputs[:limit])
    more = f", … ({len(inputs)} in all)" if len(inputs) > limit else ""
    return f"{len(inputs)} features: {shown}{more}"


def _expected(sig: dict[str, Any]) -> dict[str, Any]:
    return {"expected_signature": [{"name": i["name"], "dtype": i.get("dtype", "float64")}
                                   for i in sig.get("inputs") or []]}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _position(arr: np.ndarray, bad: np.ndarray, names: list[str] | None, row_word: str, row_base: int
              ) -> tuple[str, dict[str, Any]]:
    """Where the first True of ``bad`` is, in words ("CSV row 3, feature 'age' (column 1)") and as details."""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    row = idx[0] + row_base
    details: dict[str, Any] = {"row": row, "value": str(arr[idx])}
    if arr.ndim == 1:
        return f"{row_word} {row}", details
    if arr.ndim == 2:
        col = idx[1]
        feature = names[col] if names and col < len(names) else None
        details.update(column=col, **({"feature": feature} if feature else {}))
        where = f"{row_word} {row}, " + (f"feature {feature!r} (column {col})" if feature else f"column {col}")
        return where, details
    details["position"] = list(idx[1:])
    return f"{row_word} {row}, position {list(idx[1:])}", details


def check_finite(arr: np.ndarray, names: list[str] | None = None, row_word: str = "Row", row_base: int = 0,
                 allow_nan: bool = True) -> None:
    """Refuse inf and -inf, naming the first one's row and column; one vectorised pass, no Python per value.

    NaN passes by default: it is how a missing value (JSON null, an empty CSV cell) reaches the model, and a
    pipeline with an imputer takes it. A model that does not is answered by ``missing_values``.
    """
    if arr.dtype.kind not in "fc":
        return
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        where, details = _position(arr, bad, names, row_word, row_base)
        raise InvalidArgument(f"{where} has value {details['value']}. Expected a finite number.",
                              {"field": "body", **details})


def missing_values(data: Any, names: list[str] | None = None, row_word: str = "Row", row_base: int = 0
                   ) -> InvalidArgument | None:
    """After the model failed: a 400 naming the first missing (NaN) value when ``data`` has one, else None."""
    try:
        arr = data.to_numpy(dtype=np.float64) if hasattr(data, "to_numpy") else np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):  # text columns: ask only the numeric ones
        if not hasattr(data, "select_dtypes"):
            return None
        numeric = data.select_dtypes("number")
        return missing_values(numeric, list(numeric.columns), row_word, row_base) if numeric.shape[1] else None
    if hasattr(data, "columns"):
        names = [str(c) for c in data.columns]
    bad = np.isnan(arr)
    if arr.ndim == 0 or not bad.any():
        return None
    where, details = _position(arr, bad, names, row_word, row_base)
    return InvalidArgument(f"{where} has no value (NaN, null or an empty cell), and this model does not accept "
                           "missing values. Send a number there, or register a model whose pipeline imputes missing "
                           "values.", {"field": "body", **details})


# -- decoding -------------------------------------------------------------------------------------


def decode(body: bytes, content_type: str, sig: dict[str, Any]) -> Any:
    """The model input for ``body``: a DataFrame (tabular), a list of str (text) or an ndarray (array, image)."""
    ct = (content_type or "application/json").split(";", 1)[0].strip().lower()
    # curl -d sends form-urlencoded by default; a JSON body sent that way is still JSON.
    if ct in ("application/json", "", "*/*", "application/x-www-form-urlencoded"):
        if not body.strip():
            raise InvalidArgument(f"The request body is empty. Expected JSON such as {SHAPES}.", {"field": "body"})
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidArgument(f"The request body is not valid JSON ({exc}). Expected one of {SHAPES}.",
                           {"field": "body"}) from None
        return _from_json(obj, sig)
    if ct == "text/csv":
        return _from_csv(body, sig)
    if ct in ("application/x-npy", "application/npy"):
        return _from_npy(body, sig)
    raise UnsupportedMediaType(
        f"Content-Type {ct!r} is not supported. Expected application/json, text/csv or application/x-npy.",
        {"field": "Content-Type", "value": ct},
    )


def _from_json(obj: Any, sig: dict[str, Any]) -> Any:
    rows: Any
    if isinstance(obj, dict):
        if "instances" in obj:
            rows = obj["instances"]
        elif "inputs" in obj:
            rows = obj["inputs"]
            if isinstance(rows, dict):  # columnar: {"col": [v1, v2]}
                rows = _columns_to_records(rows)
        elif "dataframe_split" in obj:
            split = obj["dataframe_split"]
            if not isinstance(split, dict) or not isinstance(split.get("data"), list):
                raise InvalidArgument('Field "dataframe_split" must be {"columns": [...], "data": [[...], ...]}.',
                               {"field": "dataframe_split"})
            cols = split.get("columns")
            rows = split["data"]
            if cols is not None:
                if not isinstance(cols, list):
                    raise InvalidArgument('Field "dataframe_split.columns" must be a list of feature names.',
                                   {"field": "dataframe_split.columns"})
                rows = [dict(zip(cols, r)) if isinstance(r, list) else r for r in rows]
                for i, r in enumerate(split["data"]):
                    if isinstance(r, list) and len(r) != len(cols):
                        raise InvalidArgument(f"dataframe_split row {i} has {len(r)} values for {len(cols)} columns.",
                                       {"field": f"dataframe_split.data[{i}]"})
        elif "dataframe_records" in obj:
            rows = obj["dataframe_records"]
        else:
            keys = ", ".join(sorted(map(str, obj))[:5])
            raise InvalidArgument(f"The JSON object has keys {keys}. Expected one of {SHAPES}.", {"field": "body"})
    else:
        rows = obj
    kind = sig.get("input_kind", "tabular")
    if kind == "text":
        return _text_rows(rows)
    if kind in ("array", "image") or not sig.get("inputs"):
        return _array_rows(rows, sig)
    return _tabular(rows, sig)


def _columns_to_records(cols: dict[str, Any]) -> list[dict[str, Any]]:
    lengths = {len(v) if isinstance(v, list) else 1 for v in cols.values()}
    if len(lengths) != 1:
        raise InvalidArgument('Columns in "inputs" have different lengths. Expected one list of values per feature.',
                       {"field": "inputs"})
    n = lengths.pop()
    return [{k: (v[i] if isinstance(v, list) else v) for k, v in cols.items()} for i in range(n)]


def _text_rows(rows: Any) -> list[str]:
    if isinstance(rows, str):
        rows = [rows]
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument("The batch is empty. Expected at least one text.", {"field": "instances"})
    for i, r in enumerate(rows):
        if not isinstance(r, str):
            raise InvalidArgument(f"Instance {i} has value {_shown(r)}. Expected a string (the model takes text).",
                           {"field": f"instances[{i}]"})
    return rows


def _array_rows(rows: Any, sig: dict[str, Any], row_word: str = "Row", row_base: int = 0) -> np.ndarray:
    if not isinstance(rows, list) or not rows:
        raise InvalidArgument("The batch is empty. Expected at least one row.", {"field": "instances"})
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise InvalidArgument(f"The instances are not a numeric array ({exc}). Expected nested lists of numbers.",
                       {"field": "instances"}) from None
    if arr.ndim == 1:
        check_finite(arr[:, None], None, row_word, row_base)
    else:
        check_finite(arr, None, row_word, row_base)
    shape = sig.get("input_shape")
    if shape and tuple(arr.shape[1:]) != tuple(shape):
        if tuple(arr.shape) == tuple(shape):
            arr = arr[None, ...]
        else:
            raise InvalidArgument(f"The instances have shape {list(arr.shape)}. Expected [batch, {', '.join(map(str, shape))}].",
                           {"field": "instances", "expected_shape": shape})
    return arr


def _tabular(rows: Any, sig: dict[str, Any]) -> Any:
    inputs = sig["inputs"]
    names = [i["name"] for i in inputs]
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list):
        raise InvalidArgument(f"The instances are {type(rows).__name__}. Expected a list of rows; the model takes "
                       f"{describe_signature(sig)}.", {"field": "instances", **_expected(sig)})
    if not rows:
        raise InvalidArgument(f"The batch is empty. Expected at least one row of {describe_signature(sig)}.",
                       {"field": "instances", **_expected(sig)})
    if all(not isinstance(r, (list, dict)) for r in rows):
        rows = [rows]  # one flat row
    out: list[list[Any]] = []
    for n, row in enumerate(rows):
        if isinstance(row, dict):
            unknown = [k for k in row if k not in set(names)]
            if unknown:
                raise InvalidArgument(f"Row {n} has unknown feature {unknown[0]!r}. Expected the signature: "
                               f"{describe_signature(sig)}.", {"field": f"instances[{n}].{unknown[0]}", **_expected(sig)})
            missing = [k for k in names if k not in row]
            if missing:
                raise InvalidArgument(f"Row {n} is missing feature {missing[0]!r}"
                               + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
                               + f". Expected the signature: {describe_signature(sig)}.",
                               {"field": f"instances[{n}].{missing[0]}", "missing": missing, **_expected(sig)})
            row = [row[k] for k in names]
        elif not isinstance(row, list):
            raise InvalidArgument(f"Row {n} is {_shown(row)}. Expected a list of {len(names)} values or an object "
                           "keyed by feature name.", {"field": f"instances[{n}]", **_expected(sig)})
        if len(row) != len(names):
            raise InvalidArgument(f"Row {n} has {len(row)} values. Expected the signature: {describe_signature(sig)}.",
                           {"field": f"instances[{n}]", "value": len(row), **_expected(sig)})
        for j, (value, spec) in enumerate(zip(row, inputs)):
            if spec.get("dtype", "float64") in NUMERIC and not _is_number(value):
                raise InvalidArgument(
                    f"Feature {spec['name']!r} in row {n} has value {_shown(value)}. Expected a number "
                    f"({spec.get('dtype', 'float64')}).",
                    {"field": f"instances[{n}][{j}]", "feature": spec["name"], "value": _shown(value),
                     "expected": spec.get("dtype", "float64")},
                )
        out.append(row)
    return _frame(out, inputs)


def _is_number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not (isinstance(v, float) and math.isinf(v)))


def _frame(rows: list[list[Any]], inputs: list[dict[str, Any]], row_word: str = "Row", row_base: int = 0) -> Any:
    import pandas as pd

    names = [i["name"] for i in inputs]
    if all(i.get("dtype", "float64") in NUMERIC for i in inputs):
        arr = np.array(rows, dtype=np.float64)
        check_finite(arr, names, row_word, row_base)
        return pd.DataFrame(arr, columns=names, copy=False)
    frame = pd.DataFrame(rows, columns=names)
    numeric = [i["name"] for i in inputs if i.get("dtype", "float64") in NUMERIC]
    for name in numeric:
        frame[name] = frame[name].astype(np.float64)
    if numeric:
        check_finite(frame[numeric].to_numpy(), numeric, row_word, row_base)
    return frame


def _from_csv(body: bytes, sig: dict[str, Any]) -> Any:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidArgument("The CSV body is not UTF-8 text.", {"field": "body"}) from None
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
    if not rows:
        raise InvalidArgument(f"The CSV body has no rows. Expected one or more rows of {describe_signature(sig)}.",
                       {"field": "body", **_expected(sig)})
    kind = sig.get("input_kind", "tabular")
    if kind == "text":
        return [",".join(r) for r in rows]
    inputs = sig.get("inputs") or []
    names = [i["name"] for i in inputs]
    header = [c.strip() for c in rows[0]]
    if names and set(header) == set(names):
        rows = [dict(zip(header, r)) for r in rows[1:]]  # type: ignore[misc]
        if not rows:
            raise InvalidArgument("The CSV body has a header but no rows.", {"field": "body"})
        rows = [[r[k] for k in names] for r in rows]  # type: ignore[call-overload]
    converted: list[list[Any]] = []
    for n, row in enumerate(rows):
        if names and len(row) != len(names):
            raise InvalidArgument(f"CSV row {n + 1} has {len(row)} values. Expected the signature: "
                           f"{describe_signature(sig)}.", {"field": f"row {n + 1}", **_expected(sig)})
        vals: list[Any] = []
        for j, cell in enumerate(row):
            dtype = inputs[j].get("dtype", "float64") if inputs else "float64"
            if dtype in NUMERIC:
                cell = cell.strip()
                try:
                    vals.append(float(cell) if cell else None)
                except ValueError:
                    name = inputs[j]["name"] if inputs else f"column {j}"
                    raise InvalidArgument(f"CSV row {n + 1}, feature {name!r} has value {_shown(cell)}. Expected a number "
                                   f"({dtype}).", {"field": f"row {n + 1}", "feature": name}) from None
            else:
                vals.append(cell)
        converted.append(vals)
    if kind in ("array", "image") or not inputs:
        return _array_rows(converted, sig, "CSV row", 1)
    return _frame(converted, inputs, "CSV row", 1)


def _from_npy(body: bytes, sig: dict[str, Any]) -> Any:
    try:
        arr = np.load(io.BytesIO(body), allow_pickle=False)
    except Exception as exc:  # numpy raises many kinds for a bad header
        raise InvalidArgument(f"The body is not a readable .npy array ({type(exc).__name__}: {exc}).",
                       {"field": "body"}) from None
    if arr.dtype.kind not in "biuf":
        raise InvalidArgument(f"The array has dtype {arr.dtype}. Expected numbers.", {"field": "body"})
    if arr.size == 0:
        raise InvalidArgument("The array is empty. Expected at least one row.", {"field": "body"})
    kind = sig.get("input_kind", "tabular")
    if kind in ("array", "image") or not sig.get("inputs"):
        return _array_rows(arr.tolist(), sig)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    inputs = sig["inputs"]
    if arr.ndim != 2 or arr.shape[1] != len(inputs):
        raise InvalidArgument(f"The array has shape {list(arr.shape)}. Expected [rows, {len(inputs)}]: "
                       f"{describe_signature(sig)}.", {"field": "body", **_expected(sig)})
    import pandas as pd

    names = [i["name"] for i in inputs]
    arr = arr.astype(np.float64)
    check_finite(arr, names)
    return pd.DataFrame(arr, columns=names, copy=False)


# -- encoding -------------------------------------------------------------------------------------


def wants_csv(accept: str) -> bool:
    """True when Accept prefers text/csv; JSON otherwise. Unsupported types raise 406."""
    if not accept:
        return False
    kinds = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    for k in kinds:
        if k in ("application/json", "*/*", "application/*"):
            return False
        if k in ("text/csv", "text/*"):
            return True
    raise NotAcceptable(f"Accept {accept!r} is not supported. Expected application/json or text/csv.",
                        {"field": "Accept", "value": accept})


def jsonable(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict(orient="records") if hasattr(obj, "columns") else obj.to_dict())
    return obj


def encode(predictions: list[dict[str, Any]], csv_out: bool) -> tuple[bytes, str]:
    if not csv_out:
        return orjson.dumps({"predictions": predictions}, option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    first = predictions[0] if predictions else {}
    if "label" in first:
        labels = list((first.get("probabilities") or {}).keys())
        w.writerow(["label", "confidence", *labels])
        for p in predictions:
            probs = p.get("probabilities") or {}
            w.writerow([p["label"], p.get("confidence", ""), *[probs.get(lab, "") for lab in labels]])
    else:
        key = next(iter(first), "value")
        w.writerow([key])
        for p in predictions:
            v = p.get(key)
            w.writerow(v if isinstance(v, list) else [v])
    return out.getvalue().encode(), "text/csv"


# -- without a signature (networks, SageMaker default handlers) ----------------------------------

JSON_TYPES = ("application/json", "", "*/*", "application/x-www-form-urlencoded")
NPY_TYPES = ("application/x-npy", "application/npy")
ANSWER_TYPES = ("application/json", "text/csv", "application/x-npy")


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows; send finite numbers")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large for a float64; send finite numbers")
    return value


def decode_instances(body: bytes | str, content_type: str | None = "application/json", finite: bool = True) -> Any:
    """A body -> its instances: JSON (``instances``/``inputs`` or a bare value), .npy, CSV numbers, text lines.

    With ``finite`` (networks: they have no imputer), NaN and infinities in .npy and CSV bodies are refused
    naming the row; JSON never carries them.
    """
    ct = media_type(content_type)
    if isinstance(body, str):
        body = body.encode()
    if ct in JSON_TYPES:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            try:  # the standard parser says what is wrong with a NaN, an Infinity or a 1e999
                data = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
            except (ValueError, UnicodeDecodeError) as exc:
                raise InvalidArgument(f"The request body is not valid JSON ({exc}). Expected one of {SHAPES}.",
                                      {"field": "body", "expected": "JSON"}) from None
        if isinstance(data, dict):
            for key in ("instances", "inputs"):
                if key in data:
                    return data[key]
            raise InvalidArgument(f"The JSON body has keys {sorted(data)}. Expected 'instances' or 'inputs'.",
                                  {"field": "body", "value": sorted(data), "expected": ["instances", "inputs"]})
        return data
    if ct in NPY_TYPES:
        try:
            array = np.load(io.BytesIO(body), allow_pickle=False)
        except Exception as exc:  # numpy raises many kinds for a bad header
            raise InvalidArgument(f"The body is not a readable .npy array ({type(exc).__name__}: {exc}).",
                                  {"field": "body"}) from None
        if finite:
            check_finite(array if array.ndim > 1 else array.reshape(1, -1), None, "Row", 0, allow_nan=False)
        return array
    if ct == "text/csv":
        try:
            rows = np.loadtxt(io.StringIO(body.decode("utf-8-sig")), delimiter=",", dtype=np.float64, ndmin=2)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"The CSV body has a value that is not a number ({exc}). Expected rows of numbers.",
                                  {"field": "body", "expected": "rows of numbers"}) from None
        if finite:
            check_finite(rows, None, "CSV row", 1, allow_nan=False)
        return rows
    if ct == "text/plain":
        return [line for line in body.decode(errors="replace").splitlines() if line.strip()]
    raise UnsupportedMediaType(
        f"Content-Type {ct!r} is not supported. Expected application/json, text/csv, application/x-npy or "
        "text/plain.", {"field": "Content-Type", "value": ct})


def accept_media(accept: str | None, offered: tuple[str, ...] = ANSWER_TYPES) -> str:
    """The first type in Accept that is offered; ``*/*`` (curl's and requests' default) and none mean JSON."""
    if not accept:
        return offered[0]
    for part in accept.split(","):
        kind = media_type(part)
        if kind in ("*/*", "application/*", ""):
            return offered[0]
        if kind == "text/*" and "text/csv" in offered:
            return "text/csv"
        if kind in offered:
            return kind
        if kind == "application/npy" and "application/x-npy" in offered:
            return "application/x-npy"
    raise NotAcceptable(f"Accept {accept!r} is not supported. Expected one of {', '.join(offered)}.",
                        {"field": "Accept", "value": accept, "expected": list(offered)})


def encode_array(value: Any, accept: str | None) -> tuple[bytes, str]:
    """A framework container's default answer: the prediction itself (no wrapper) as JSON, CSV rows or .npy.

    numpy arrays and scalars, lists and dicts of them are all encodable.
    """
    kind = accept_media(accept)
    if kind == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        return buffer.getvalue(), kind
    if kind == "text/csv":
        arr = np.asarray(value)
        # As numpy.savetxt writes it (SageMaker's array_to_csv): a 1-D array one value per line.
        rows = arr.reshape(-1, 1) if arr.ndim <= 1 else arr.reshape(len(arr), -1)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows.tolist())
        return out.getvalue().encode(), kind
    return orjson.dumps(jsonable(value), option=orjson.OPT_SERIALIZE_NUMPY), "application/json"
