"""Dataset format detection and streaming inspection: schema, row counts and classes.

Every reader streams. Files are read in bounded chunks (or only their headers),
so inspecting a gigabyte CSV costs tens of megabytes of memory, not gigabytes.
pandas and pyarrow are imported on first use so `import slipway.data` stays light.
"""

from __future__ import annotations

import ast
import codecs
import csv
import io
import json
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from slipway.data.folders import IMAGE_EXTENSIONS, FolderScan, scan_folder
from slipway.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["FOLDER_FORMATS", "FORMATS", "STREAMABLE", "ColumnInfo", "DatasetInfo", "detect_format", "inspect",
           "inspect_stream", "sniff_format"]

FORMATS = ("csv", "parquet", "jsonl", "npy", "npz", "text-folder", "image-folder", "files")
# "files": a folder of files kept exactly as pushed (e.g. MNIST's four IDX .gz files), for scripts
FOLDER_FORMATS = ("text-folder", "image-folder", "files")
MAX_CLASSES = 1000  # more distinct label values than this is a regression target, not classes

_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".npy": "npy",
    ".npz": "npz",
}
_SNIFF_BYTES = 64 * 1024
_CSV_CHUNK_BYTES = 8 << 20  # text per pandas chunk; bounds memory whatever the row width
_JSONL_CHUNK_ROWS = 10_000
_CSV_SAMPLE_BYTES = 8 << 20  # CSV column types are inferred from this much of the start, cut at a line end
_CSV_STREAM_BLOCK = 1 << 20  # then the file streams in blocks this big (bigger blocks cost more memory)
_NPY_READ_BYTES = 4 << 20
_SHOWN_COLUMNS = 20
_TITLES = {"csv": "CSV", "parquet": "Parquet", "jsonl": "JSONL", "npy": ".npy", "npz": ".npz"}


@dataclass
class ColumnInfo:
    """One column (or, for npy/npz, one array) of a dataset.

    dtype is one of "int64", "float64", "bool", "string", "datetime64",
    "category" or "object" for tables, and the NumPy dtype name for arrays.
    """

    name: str
    dtype: str
    nulls: int


@dataclass
class DatasetInfo:
    """What `inspect` learned about a dataset; `to_dict` gives its JSON form."""

    format: str
    rows: int | None
    columns: list[ColumnInfo]
    label: str | None
    classes: dict[str, int] | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- detection


def _check_format(fmt: str) -> str:
    value = fmt.strip().lower() if isinstance(fmt, str) else fmt
    if value not in FORMATS:
        raise InvalidArgument(
            f"Format '{fmt}' is not supported: expected one of {', '.join(FORMATS)}.",
            {"field": "format", "value": fmt, "expected": list(FORMATS)},
        )
    return value


def _folder_format(scan: FolderScan) -> str:
    """Images -> image-folder; text -> text-folder; anything else (binary files in subfolders) -> files."""
    if scan.image_files * 2 > scan.files:
        return "image-folder"
    for file in scan.sample:
        with file.open("rb") as fh:
            if _text_problem(fh.read(_SNIFF_BYTES)) is not None:
                return "files"
    return "text-folder"


def detect_format(path: Path, filename: str | None = None, hint: str | None = None) -> str:
    """Return the format of the dataset at `path`, one of FORMATS.

    `hint` (the user's --format) wins. A directory is an image or text folder;
    a file is known by the extension of `filename` (or of the path), and
    failing that by its first bytes.
    """
    if hint is not None:
        return _check_format(hint)
    path = Path(path)
    name = filename or path.name
    if path.is_dir():
        if not any(child.is_dir() for child in _visible(path)):
            return "files"  # no class subfolders: a plain folder of files
        return _folder_format(scan_folder(path, name))
    _require_file(path, name)
    by_extension = _EXTENSIONS.get(Path(name).suffix.lower())
    if by_extension:
        return by_extension
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if not head:
        raise _empty(name, "a dataset file")
    sniffed = _sniff(head)
    if sniffed is None:
        raise InvalidArgument(
            f"Unknown dataset format for '{name}': expected one of {', '.join(FORMATS)}; "
            "pass --format.",
            {"field": "format", "value": name, "expected": list(FORMATS)},
        )
    return sniffed


def sniff_format(head: bytes, filename: str, hint: str | None = None) -> str:
    """The format of a single file from the user's hint, its name's extension, or its first bytes."""
    if hint is not None:
        return _check_format(hint)
    by_extension = _EXTENSIONS.get(Path(filename).suffix.lower())
    if by_extension:
        return by_extension
    if not head:
        raise _empty(filename, "a dataset file")
    sniffed = _sniff(head)
    if sniffed is None:
        raise InvalidArgument(
            f"Unknown dataset format for '{filename}': expected one of {', '.join(FORMATS)}; "
            "pass --format.",
            {"field": "format", "value": filename, "expected": list(FORMATS)},
        )
    return sniffed


def _visible(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if not p.name.startswith("."))


def _sniff(head: bytes) -> str | None:
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    if _text_problem(head) is not None:
        return None
    first = next((line.strip() for line in _decode(head).splitlines() if line.strip()), "")
    first = first.lstrip("\ufeff")
    if first.startswith("{"):
        return "jsonl"
    if "," in first:
        return "csv"
    return None


def _decode(head: bytes) -> str:
    # A sample may end inside a multi-byte character; an incremental decoder holds it back.
    return codecs.getincrementaldecoder("utf-8")().decode(head, final=False)


def _text_problem(head: bytes) -> str | None:
    """Why `head` is not UTF-8 text, or None when it is."""
    nul = head.find(b"\x00")
    if nul >= 0:
        return f"a NUL byte at offset {nul}"
    try:
        _decode(head)
    except UnicodeDecodeError as exc:
        return f"invalid byte 0x{head[exc.start]:02x} at offset {exc.start}"
    return None


# ---------------------------------------------------------------- inspection


def inspect(
    path: Path, fmt: str, label: str | None = None, filename: str | None = None
) -> DatasetInfo:
    """Describe the dataset at `path` in format `fmt` without loading it whole.

    `label` names a column (csv, parquet, jsonl) or an array member (npz); for
    folders the label is always the folder name, reported as "class".
    `filename` is the name the user knows the file by, used in messages.
    """
    fmt = _check_format(fmt)
    path = Path(path)
    name = filename or path.name
    if fmt in FOLDER_FORMATS:
        return _inspect_folder(path, fmt, name)
    _require_file(path, name)
    if path.stat().st_size == 0:
        raise _empty(name, f"a {_TITLES[fmt]} file with at least one row")
    if fmt in _STREAM_READERS:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        return _STREAM_READERS[fmt](_Source(head, lambda: path.open("rb")), name, label)
    return _READERS[fmt](path, name, label)


STREAMABLE = ("csv", "jsonl")


def inspect_stream(
    stream: IO[bytes], fmt: str, label: str | None = None, filename: str = "data",
    reopen: Callable[[], IO[bytes]] | None = None,
) -> DatasetInfo:
    """Describe a CSV or JSONL file while its bytes stream past (one pass, bounded memory).

    ``stream`` is read once, front to back. Only when the fast reader cannot decide (a CSV that
    pyarrow's streaming reader rejects, or types it leaves to pandas) is the whole file read again,
    from ``reopen()`` (the stored copy), so errors keep their exact line numbers.
    """
    fmt = _check_format(fmt)
    if fmt not in _STREAM_READERS:
        raise ValueError(f"inspect_stream reads {', '.join(STREAMABLE)}, not {fmt}")
    head = _read_up_to(stream, _SNIFF_BYTES)
    if not head:
        raise _empty(filename, f"a {_TITLES[fmt]} file with at least one row")
    live: list[IO[bytes]] = [io.BufferedReader(_Joined(head, stream), _STREAM_BUFFER)]  # type: ignore[arg-type]

    def opener() -> IO[bytes]:
        if live:
            return live.pop()
        if reopen is None:
            raise ValueError("the stream was read once already and no reopen() was given")
        return reopen()

    return _STREAM_READERS[fmt](_Source(head, opener), filename, label)


_STREAM_BUFFER = 1 << 20


def _read_up_to(stream: IO[bytes], n: int) -> bytes:
    parts, want = [], n
    while want > 0:
        block = stream.read(want)
        if not block:
            break
        parts.append(block)
        want -= len(block)
    return b"".join(parts)


class _Joined(io.RawIOBase):
    """``head`` followed by the rest of ``rest``: a stream whose first bytes were already read."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head, self._rest = memoryview(head), rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        block = self._rest.read(len(b))
        n = len(block)
        b[:n] = block
        return n


@dataclass
class _Source:
    """A file to inspect: its first bytes, and ``open()`` for all of it (each call starts over)."""

    head: bytes
    open: Callable[[], IO[bytes]]


def _require_file(path: Path, name: str) -> None:
    if not path.is_file():
        what = "a directory" if path.is_dir() else "missing"
        raise InvalidArgument(
            f"Dataset file '{name}' is {what}: expected a regular file.",
            {"field": "path", "value": name, "expected": "a regular file"},
        )


def _empty(name: str, expected: str) -> InvalidArgument:
    return InvalidArgument(
        f"Dataset file '{name}' is empty (0 bytes): expected {expected}.",
        {"field": "file", "value": name, "expected": expected},
    )


def _no_rows(kind: str, name: str, found: str) -> InvalidArgument:
    return InvalidArgument(
        f"{kind} file '{name}' {found}: expected at least one row.",
        {"field": "file", "value": name, "expected": "at least one row"},
    )


def _not_text(fmt: str, name: str, problem: str) -> InvalidArgument:
    return InvalidArgument(
        f"'{name}' is not valid {_TITLES[fmt]}: found {problem}; expected UTF-8 text.",
        {"field": "file", "value": name, "expected": "UTF-8 text"},
    )


def _check_text(head: bytes, name: str, fmt: str) -> bytes:
    problem = _text_problem(head)
    if problem is not None:
        raise _not_text(fmt, name, problem)
    return head


def _missing_label(label: str, names: list[str], where: str, kind: str) -> InvalidArgument:
    shown = ", ".join(names[:_SHOWN_COLUMNS])
    if len(names) > _SHOWN_COLUMNS:
        shown += f", … ({len(names) - _SHOWN_COLUMNS} more)"
    return InvalidArgument(
        f"Label {kind} '{label}' not found in {where}; {kind}s are: {shown}.",
        {"field": "label", "value": label, "expected": names[:50]},
    )


def _class_key(value: Any) -> str:
    """The class name of a label value; 1 and 1.0 from differently typed chunks agree."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


class _ClassCounter:
    """Counts label values until there are too many to be classes."""

    def __init__(self) -> None:
        self.counts: Counter[str] | None = Counter()

    def add(self, values: Any, counts: Any) -> None:
        if self.counts is None:
            return
        for value, count in zip(values, counts, strict=True):
            self.counts[_class_key(value)] += int(count)
        if len(self.counts) > MAX_CLASSES:
            self.counts = None

    def result(self) -> dict[str, int] | None:
        return None if self.counts is None else dict(sorted(self.counts.items()))


# ---------------------------------------------------------------- tables

_INFERRED = {
    "string": "string",
    "boolean": "bool",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
    "decimal": "float64",
    "datetime": "datetime64",
    "datetime64": "datetime64",
    "date": "datetime64",
    "empty": "null",
}


def _pandas_dtype(series: pd.Series) -> str:
    import pandas as pd

    dtype = series.dtype
    types = pd.api.types
    if types.is_bool_dtype(dtype):
        return "bool"
    if types.is_integer_dtype(dtype):
        return "int64"
    if types.is_float_dtype(dtype):
        return "float64"
    if types.is_datetime64_any_dtype(dtype):
        return "datetime64"
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if dtype == np.dtype(object):
        # Object columns are mixed, or typed values with nulls (True/False/None).
        return _INFERRED.get(types.infer_dtype(series, skipna=True), "object")
    return str(dtype)


def _merge_dtype(a: str, b: str) -> str:
    """The dtype of a column whose chunks had dtypes `a` and `b` ("null": all missing)."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if {a, b} == {"int64", "float64"}:
        return "float64"
    return "object" if "object" in (a, b) else "string"


class _TableStats:
    """Schema, null counts, row count and label classes merged over chunks."""

    def __init__(self, label: str | None) -> None:
        self.label = label
        self.rows = 0
        self.dtypes: dict[str, str] = {}
        self.nulls: dict[str, int] = {}
        self.classes = _ClassCounter() if label is not None else None

    def add(self, chunk: pd.DataFrame) -> None:
        seen = set()
        for column in chunk.columns:
            key = str(column)
            seen.add(key)
            series = chunk[column]
            if key not in self.dtypes:  # first seen now: it was missing from earlier rows
                self.dtypes[key], self.nulls[key] = "null", self.rows
            missing = int(series.isna().sum())
            self.nulls[key] += missing
            kind = "null" if missing == len(series) else _pandas_dtype(series)
            self.dtypes[key] = _merge_dtype(self.dtypes[key], kind)
            if key == self.label and self.classes is not None:
                counts = series.dropna().value_counts()
                self.classes.add(counts.index, counts.to_numpy())
        for key in self.dtypes.keys() - seen:
            self.nulls[key] += len(chunk)
        self.rows += len(chunk)

    def check_label(self, name: str) -> None:
        if self.label is not None and self.label not in self.dtypes:
            raise _missing_label(self.label, list(self.dtypes), name, "column")

    def info(self, fmt: str) -> DatasetInfo:
        columns = [
            ColumnInfo(key, "float64" if dtype == "null" else dtype, self.nulls[key])
            for key, dtype in self.dtypes.items()
        ]
        classes = self.classes.result() if self.classes is not None else None
        extra = {"classes_truncated": True} if self.classes is not None and classes is None else {}
        return DatasetInfo(fmt, self.rows, columns, self.label, classes, extra)


_FIELDS_RE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _malformed_csv(name: str, line: int, expected: int, saw: int) -> InvalidArgument:
    return InvalidArgument(
        f"Malformed CSV in '{name}' at line {line}: expected {expected} fields, saw {saw}. "
        "Fix that row, or quote fields that contain commas.",
        {"field": "file", "value": name, "line": line, "expected": f"{expected} fields"},
    )


def _check_first_row(head: bytes, name: str) -> None:
    """Reject a first data row wider than the header.

    pandas would silently turn the extra leading field into an index (or, with
    index_col=False, drop data with a warning) instead of raising.
    """
    rows = csv.reader(io.StringIO(_decode(head).lstrip("\ufeff")))
    try:
        header = next(rows, None)
        first = next(rows, None)
        while first == []:  # pandas skips blank lines
            first = next(rows, None)
    except csv.Error:
        return  # an unfinished quote in the sample; pandas reads the whole file
    if header and first and len(first) > len(header):
        raise _malformed_csv(name, rows.line_num, len(header), len(first))


def _first_bad_line(src: _Source) -> str:
    """Where the first byte that is not UTF-8 is; pandas does not say (error path only)."""
    with src.open() as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return f"invalid byte 0x{raw[exc.start]:02x} at line {line_no}"
    return "text that is not UTF-8"


def _chunk_rows(head: bytes) -> int:
    lines = max(1, head.count(b"\n"))
    return int(min(50_000, max(1_000, _CSV_CHUNK_BYTES // max(1, len(head) // lines))))


# pandas' default missing-value strings: the fast path must see the same nulls as the exact one.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
              "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]  # fmt: skip


def _read_csv_arrow(fh: IO[bytes], label: str | None) -> DatasetInfo | None:
    """One streaming pass with pyarrow's CSV reader; None when the exact pandas reader must decide.

    Column types and null counts come from a sample: the first ``_CSV_SAMPLE_BYTES``, cut at a line
    end (for a file that fits in it, that is the whole file and every figure is exact). Then the whole
    file streams in ``_CSV_STREAM_BLOCK`` blocks through pyarrow's tokenizer, converting only the label
    column (or the first): rows and label classes are counted exactly, and a row with the wrong number
    of fields, bytes that are not UTF-8 or a label value that does not fit its type anywhere in the file
    makes this give up, so the pandas reader reads the file and reports the problem with its line
    number exactly as before. The other columns' values past the sample are not converted (that is
    what makes a gigabyte push run at disk speed): their nulls are those of the sample, and
    ``info["sampled_rows"]`` says how many rows that was. Results agree with the pandas reader: same
    null strings, int columns with nulls are float64, dates stay strings (a column pyarrow reads as
    dates goes to the pandas path).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    convert = {
        "null_values": _PANDAS_NA, "strings_can_be_null": True, "quoted_strings_can_be_null": True,
        "true_values": ["True", "TRUE", "true"], "false_values": ["False", "FALSE", "false"],
    }
    try:
        whole = _read_up_to(fh, _CSV_SAMPLE_BYTES)
        sampled = len(whole) == _CSV_SAMPLE_BYTES  # more may follow
        sample = whole[: whole.rfind(b"\n") + 1] if sampled else whole  # whole rows only
        table = pacsv.read_csv(
            pa.BufferReader(sample), read_options=pacsv.ReadOptions(use_threads=False),
            convert_options=pacsv.ConvertOptions(**convert),
        )
        schema = table.schema
        names = schema.names
        if len(set(names)) != len(names) or any(not n.strip() for n in names):
            return None  # pandas renames duplicate and unnamed columns
        kinds = []
        for f in schema:
            t = f.type
            if pa.types.is_null(t):
                kinds.append("null")
            elif pa.types.is_boolean(t) or pa.types.is_int64(t) or pa.types.is_float64(t) \
                    or pa.types.is_string(t) or pa.types.is_large_string(t):
                kinds.append(_arrow_dtype(t))
            else:
                return None  # timestamps, big integers…: leave them to pandas
        if label is not None and label not in names:
            return None  # the pandas path raises the missing-label error
        nulls = [table.column(i).null_count for i in range(len(names))]
        sample_rows = table.num_rows
        counted = label if label is not None else names[0]
        ci = names.index(counted)
        if not sampled:  # the sample is the file
            stream: Any = [table.combine_chunks().to_batches()[0].select([ci])] if sample_rows else []
        else:
            counted_type = schema.field(ci).type
            stream = pacsv.open_csv(
                io.BufferedReader(_Joined(whole, fh), _STREAM_BUFFER),  # type: ignore[arg-type]
                read_options=pacsv.ReadOptions(block_size=_CSV_STREAM_BLOCK, use_threads=False),
                convert_options=pacsv.ConvertOptions(
                    include_columns=[counted],
                    column_types={} if pa.types.is_null(counted_type) else {counted: counted_type}, **convert),
            )
            if stream.schema.names != [counted]:
                return None
        rows = counted_nulls = 0
        classes = _ClassCounter() if label is not None else None
        for batch in stream:
            rows += batch.num_rows
            column = batch.column(0)
            counted_nulls += column.null_count
            if classes is not None:
                counts = pc.value_counts(column.drop_null())
                classes.add(counts.field("values").to_pylist(), counts.field("counts").to_pylist())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None
    if rows == 0:
        return None
    nulls[ci] = counted_nulls
    columns = []
    for i, (key, kind, missing) in enumerate(zip(names, kinds, nulls, strict=True)):
        seen = rows if i == ci else sample_rows
        if kind == "null" or missing == seen:
            kind = "float64"
        elif kind == "int64" and missing:
            kind = "float64"  # as pandas reads an int column with gaps
        columns.append(ColumnInfo(key, kind, missing))
    result = classes.result() if classes is not None else None
    extra: dict[str, Any] = {"classes_truncated": True} if classes is not None and result is None else {}
    if sample_rows < rows:
        extra["sampled_rows"] = sample_rows
    return DatasetInfo("csv", rows, columns, label, result, extra)


def _read_csv(src: _Source, name: str, label: str | None) -> DatasetInfo:
    head = _check_text(src.head, name, "csv")
    _check_first_row(head, name)
    with src.open() as fh:
        fast = _read_csv_arrow(fh, label)
    if fast is not None:
        return fast
    return _read_csv_pandas(src, name, label, head)


def _read_csv_pandas(src: _Source, name: str, label: str | None, head: bytes) -> DatasetInfo:
    """The exact reader (pandas, chunked): merges types across chunks and names the line of a bad row."""
    import pandas as pd

    stats = _TableStats(label)
    try:
        with src.open() as fh, pd.read_csv(
            fh, chunksize=_chunk_rows(head), index_col=False, encoding="utf-8", low_memory=False
        ) as reader:
            for chunk in reader:
                stats.add(chunk)
                stats.check_label(name)  # fail on a bad label before reading the rest
    except pd.errors.EmptyDataError as exc:
        raise _empty(name, "a header line and at least one row") from exc
    except pd.errors.ParserError as exc:
        found = _FIELDS_RE.search(str(exc))
        if found:
            expected, line, saw = (int(g) for g in found.groups())
            raise _malformed_csv(name, line, expected, saw) from exc
        reason = str(exc).replace("Error tokenizing data. C error: ", "").strip()
        raise InvalidArgument(
            f"Malformed CSV in '{name}': {reason}; expected comma-separated rows with "
            "balanced quotes.",
            {"field": "file", "value": name, "expected": "valid CSV"},
        ) from exc
    except UnicodeDecodeError as exc:
        raise _not_text("csv", name, _first_bad_line(src)) from exc
    if stats.rows == 0:
        raise _no_rows("CSV", name, "has a header but no rows")
    return stats.info("csv")


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}  # fmt: skip


def _read_jsonl(src: _Source, name: str, label: str | None) -> DatasetInfo:
    # Lines are parsed here rather than by pd.read_json so that errors can name the line.
    import pandas as pd

    _check_text(src.head, name, "jsonl")
    stats = _TableStats(label)
    records: list[dict[str, Any]] = []
    with src.open() as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                problem = f"invalid byte 0x{raw[exc.start]:02x} at line {line_no}"
                raise _not_text("jsonl", name, problem) from exc
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                problem = f"{exc.msg} (column {exc.colno})"
                raise _malformed_jsonl(name, line_no, problem) from exc
            if not isinstance(record, dict):
                problem = f"found {_JSON_TYPES.get(type(record), 'a value')}"
                raise _malformed_jsonl(name, line_no, problem)
            records.append(record)
            if len(records) >= _JSONL_CHUNK_ROWS:
                stats.add(pd.DataFrame.from_records(records))
                records = []
    if records:
        stats.add(pd.DataFrame.from_records(records))
    if stats.rows == 0:
        raise _no_rows("JSONL", name, "has no records")
    stats.check_label(name)
    return stats.info("jsonl")


def _malformed_jsonl(name: str, line: int, problem: str) -> InvalidArgument:
    return InvalidArgument(
        f"Malformed JSONL in '{name}' at line {line}: {problem}; expected one JSON "
        "object per line.",
        {"field": "file", "value": name, "line": line, "expected": "one JSON object per line"},
    )


def _arrow_dtype(t: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float64"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "datetime64"
    is_string_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    if pa.types.is_string(t) or pa.types.is_large_string(t) or is_string_view(t):
        return "string"
    if pa.types.is_dictionary(t):
        return "category"
    return "object"


def _parquet_nulls(pf: pq.ParquetFile) -> list[int]:
    """Null count per top-level column: from row-group statistics when every flat
    column has them, else by streaming record batches."""
    meta, names = pf.metadata, pf.schema_arrow.names
    counts = [0] * len(names)
    # Statistics count leaf values, so they are only the answer for flat schemas.
    flat = meta.num_columns == len(names) and meta.num_row_groups > 0
    for g in range(meta.num_row_groups if flat else 0):
        group = meta.row_group(g)
        for j, column_name in enumerate(names):
            chunk = group.column(j)
            stats = chunk.statistics
            if chunk.path_in_schema != column_name or stats is None or not stats.has_null_count:
                flat = False
                break
            counts[j] += stats.null_count
        if not flat:
            break
    if flat:
        return counts
    counts = [0] * len(names)
    for batch in pf.iter_batches(batch_size=65_536):
        for j, column in enumerate(batch.columns):
            counts[j] += column.null_count
    return counts


def _read_parquet(path: Path, name: str, label: str | None) -> DatasetInfo:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        names = [n for n in schema.names if not re.fullmatch(r"__index_level_\d+__", n)]
        if label is not None and label not in names:
            raise _missing_label(label, names, name, "column")
        rows = pf.metadata.num_rows
        if rows == 0:
            raise _no_rows("Parquet", name, "has no rows")
        nulls = dict(zip(schema.names, _parquet_nulls(pf), strict=True))
        classes = None
        if label is not None:
            counter = _ClassCounter()
            for batch in pf.iter_batches(batch_size=65_536, columns=[label]):
                counts = batch.column(0).drop_null().value_counts()
                counter.add(counts.field("values").to_pylist(), counts.field("counts").to_pylist())
                if counter.counts is None:
                    break
            classes = counter.result()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidArgument(
            f"'{name}' is not a valid Parquet file ({exc}): expected a file written by "
            "pandas.to_parquet or pyarrow.",
            {"field": "file", "value": name, "expected": "Parquet"},
        ) from exc
    columns = [ColumnInfo(n, _arrow_dtype(schema.field(n).type), nulls[n]) for n in names]
    extra = {"classes_truncated": True} if label is not None and classes is None else {}
    return DatasetInfo("parquet", rows, columns, label, classes, extra)


# ---------------------------------------------------------------- arrays


def _npy_header(fh: IO[bytes], where: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype from an .npy header, reading nothing past it."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(fh)
        else:  # 3.0 (UTF-8 field names) has no public reader; same layout as 2.0
            (length,) = struct.unpack("<I", fh.read(4))
            header = ast.literal_eval(fh.read(length).decode("utf-8"))
            shape, dtype = tuple(header["shape"]), fmt.descr_to_dtype(header["descr"])
    except (ValueError, SyntaxError, KeyError, TypeError, struct.error) as exc:
        raise InvalidArgument(
            f"'{where}' is not a valid .npy array ({exc}): expected data written by numpy.save.",
            {"field": "file", "value": where, "expected": ".npy array"},
        ) from exc
    if dtype.hasobject:
        raise InvalidArgument(
            f"Array '{where}' holds Python objects (dtype {dtype}): expected numeric or "
            "string arrays; pickled arrays are refused because loading them can run code.",
            {"field": "file", "value": where, "expected": "numeric or string dtype"},
        )
    return shape, dtype


def _array_column(key: str, dtype: np.dtype[Any]) -> ColumnInfo:
    return ColumnInfo(key, "string" if dtype.kind in "US" else dtype.name, 0)


def _check_rows(rows: int | None, shapes: dict[str, list[int]], name: str) -> None:
    if rows == 0:
        raise InvalidArgument(
            f"Arrays in '{name}' are empty (shapes {shapes}): expected at least one row "
            "along the first axis.",
            {"field": "file", "value": name, "expected": "at least one row"},
        )


def _read_npy(path: Path, name: str, label: str | None) -> DatasetInfo:
    if label is not None:
        raise InvalidArgument(
            f"Label '{label}' cannot be used with '{name}': an .npy file holds a single "
            "array; expected no label, or an .npz file with the label as a member (e.g. 'y').",
            {"field": "label", "value": label, "expected": None},
        )
    key = Path(name).stem
    with path.open("rb") as fh:
        shape, dtype = _npy_header(fh, name)
        data_bytes = int(np.prod(shape)) * dtype.itemsize
        if fh.tell() + data_bytes > path.stat().st_size:
            raise InvalidArgument(
                f"Array '{name}' is truncated: its header promises shape {list(shape)} of "
                f"{dtype} ({data_bytes} bytes) but the file is shorter; expected a complete "
                "file written by numpy.save.",
                {"field": "file", "value": name, "expected": f"{data_bytes} bytes of data"},
            )
    shapes = {key: list(shape)}
    rows = shape[0] if shape else None
    _check_rows(rows, shapes, name)
    return DatasetInfo("npy", rows, [_array_column(key, dtype)], None, None, {"shapes": shapes})


def _count_values(fh: IO[bytes], length: int, dtype: np.dtype[Any]) -> dict[str, int] | None:
    """Class counts of a 1-D array streamed from `fh`, or None past MAX_CLASSES."""
    counter = _ClassCounter()
    step = max(1, _NPY_READ_BYTES // dtype.itemsize)
    remaining = length
    while remaining and counter.counts is not None:
        n = min(step, remaining)
        values = np.frombuffer(fh.read(n * dtype.itemsize), dtype=dtype, count=n)
        if dtype.kind in "fc":
            values = values[~np.isnan(values)]
        uniques, counts = np.unique(values, return_counts=True)
        counter.add(uniques.tolist(), counts.tolist())
        remaining -= n
    return counter.result()


def _read_npz(path: Path, name: str, label: str | None) -> DatasetInfo:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if m.filename.endswith(".npy")]
            if not members:
                raise InvalidArgument(
                    f"'{name}' holds no .npy arrays: expected an archive written by numpy.savez.",
                    {"field": "file", "value": name, "expected": ".npz archive"},
                )
            columns, shapes, headers = [], {}, {}
            for member in members:
                key = member.filename[: -len(".npy")]
                with zf.open(member) as fh:
                    shape, dtype = _npy_header(fh, f"{name}:{key}")
                columns.append(_array_column(key, dtype))
                shapes[key] = list(shape)
                headers[key] = (member, shape, dtype)
            if label is not None and label not in headers:
                raise _missing_label(label, list(headers), name, "array")
            classes = None
            if label is not None:
                member, shape, dtype = headers[label]
                if len(shape) == 1 and dtype.itemsize:
                    with zf.open(member) as fh:
                        _npy_header(fh, f"{name}:{label}")
                        classes = _count_values(fh, shape[0], dtype)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise InvalidArgument(
            f"'{name}' is not a valid .npz archive ({exc}): expected a zip written by numpy.savez.",
            {"field": "file", "value": name, "expected": ".npz archive"},
        ) from exc
    lengths = {shape[0] for shape in shapes.values() if shape}
    rows = lengths.pop() if len(lengths) == 1 else None
    _check_rows(rows, shapes, name)
    return DatasetInfo("npz", rows, columns, label, classes, {"shapes": shapes})


# ---------------------------------------------------------------- folders


_IDX_TYPES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64"}


def _idx_shape(file: Path) -> list[int] | None:
    """The dimensions in an MNIST IDX header (gzipped or not), or None when ``file`` is not IDX."""
    import gzip

    try:
        with (gzip.open(file, "rb") if file.suffix == ".gz" else file.open("rb")) as fh:
            head = fh.read(4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_TYPES or not 1 <= head[3] <= 8:
                return None
            dims = fh.read(4 * head[3])
    except (OSError, EOFError, zlib.error):
        return None
    if len(dims) != 4 * head[3]:
        return None
    return list(struct.unpack(f">{head[3]}I", dims))


def _inspect_files(path: Path, name: str) -> DatasetInfo:
    files = [p for p in path.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(path).parts)]
    if not files:
        raise InvalidArgument(
            f"Folder dataset '{name}' holds no file: expected at least one file.",
            {"field": "path", "value": name, "expected": "a folder with files"},
        )
    files.sort()
    extensions = Counter("".join(p.suffixes[-2:]).lower() if p.suffix == ".gz" else p.suffix.lower() for p in files)
    extra: dict[str, Any] = {
        "files": [p.relative_to(path).as_posix() for p in files[:50]],
        "extensions": dict(sorted(extensions.items())),
        "bytes": sum(p.stat().st_size for p in files),
    }
    idx = {p.relative_to(path).as_posix(): shape for p in files[:50] if (shape := _idx_shape(p)) is not None}
    if idx:
        extra["idx_shapes"] = idx
    return DatasetInfo("files", len(files), [], None, None, extra)


def _inspect_folder(path: Path, fmt: str, name: str) -> DatasetInfo:
    if fmt == "files":
        return _inspect_files(path, name)
    scan = scan_folder(path, name)
    extra: dict[str, Any] = {"extensions": scan.extensions}
    if scan.empty_classes:
        extra["empty_classes"] = scan.empty_classes
    if scan.ignored_files:
        extra["ignored_files"] = scan.ignored_files
    if fmt == "image-folder":
        if not scan.image_files:
            raise InvalidArgument(
                f"Folder dataset '{name}' has no image files: expected "
                f"{', '.join(sorted(IMAGE_EXTENSIONS))} files, or pass --format text-folder.",
                {"field": "format", "value": fmt, "expected": sorted(IMAGE_EXTENSIONS)},
            )
        extra.update(_image_summary(scan.sample, path, name))
    else:
        _check_text_files(scan.sample, path, name)
    return DatasetInfo(fmt, scan.files, [], "class", scan.classes, extra)


def _image_summary(sample: list[Path], root: Path, name: str) -> dict[str, Any]:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # Pillow is optional; sizes are a nicety
        return {}
    sizes, modes = set(), set()
    images = [f for f in sample if f.suffix.lower() in IMAGE_EXTENSIONS]
    for file in images:
        try:
            with Image.open(file) as image:
                sizes.add(image.size)
                modes.add(image.mode)
        except (UnidentifiedImageError, OSError) as exc:
            relative = file.relative_to(root).as_posix()
            raise InvalidArgument(
                f"Cannot read image '{relative}' in folder dataset '{name}' ({exc}): "
                "expected a valid PNG, JPEG, BMP, GIF or WEBP file.",
                {"field": "file", "value": relative, "expected": "a readable image"},
            ) from exc
    return {
        "image_sizes": [list(size) for size in sorted(sizes)],
        "image_modes": sorted(modes),
        "images_sampled": len(images),
    }


def _check_text_files(sample: list[Path], root: Path, name: str) -> None:
    for file in sample:
        with file.open("rb") as fh:
            problem = _text_problem(fh.read(_SNIFF_BYTES))
        if problem is not None:
            relative = file.relative_to(root).as_posix()
            raise InvalidArgument(
                f"File '{relative}' in text folder '{name}' is not text: found {problem}; "
                "expected UTF-8 text (use --format image-folder for images).",
                {"field": "file", "value": relative, "expected": "UTF-8 text"},
            )


_STREAM_READERS: dict[str, Callable[[_Source, str, str | None], DatasetInfo]] = {
    "csv": _read_csv,
    "jsonl": _read_jsonl,
}
_READERS: dict[str, Callable[[Path, str, str | None], DatasetInfo]] = {
    "parquet": _read_parquet,
    "npy": _read_npy,
    "npz": _read_npz,
}
