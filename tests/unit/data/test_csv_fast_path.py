"""The streaming pyarrow CSV reader agrees with the exact pandas reader, and hands it what it cannot judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.data.formats import _read_csv_arrow, _read_csv_pandas, _Source, inspect
from slipway.errors import InvalidArgument


def _arrow(path: Path, label: str | None):
    with path.open("rb") as fh:
        return _read_csv_arrow(fh, label)

TABLES = {
    "mixed": "radius,texture,smoker,name,diagnosis\n1,2.5,True,ann,M\n2,,False,,B\n3,4.0,True,cid,B\n",
    "gaps": "a,b,c,label\n1,,x,0\nNA,2.5,,1\n3,null,None,1\n4,n/a,z,2.0\n",
    "nulls": "id,never,flag,label\n1,,true,1.5\n2,,,2.5\n3,,false,\n",
    "quoted": 'id,text,label\n1,"a, b",yes\n2,"say ""hi""",no\n3,plain,yes\n',
    "blank_lines": "x,y\n1,2\n\n3,4\n\n",
}


@pytest.mark.parametrize("table", sorted(TABLES))
def test_fast_path_agrees_with_pandas(tmp_path: Path, table: str) -> None:
    path = tmp_path / f"{table}.csv"
    path.write_text(TABLES[table])
    label = "diagnosis" if table == "mixed" else ("label" if "label" in TABLES[table].split("\n")[0] else None)
    fast = _arrow(path, label)
    assert fast is not None  # these tables are the common case: the fast path must take them
    assert fast == _read_csv_pandas(
        _Source(path.read_bytes(), lambda: path.open("rb")), path.name, label, path.read_bytes())


@pytest.mark.parametrize("text", [
    "a,a\n1,2\n",  # duplicate names: pandas renames the second
    "when,x\n2024-01-02,1\n2024-01-03,2\n",  # pyarrow would call it a date; pandas calls it text
    "a,b\n1,2\n3\n",  # a short row: pandas fills it with a null
])
def test_fast_path_declines_what_pandas_reads_differently(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text(text)
    assert _arrow(path, None) is None
    assert inspect(path, "csv").rows == text.count("\n") - 1


def test_bad_row_after_the_first_block_still_names_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Types come from the sample; every later block is still parsed, and a bad row there
    # sends the file to the pandas reader, which names the line as before.
    monkeypatch.setattr("slipway.data.formats._CSV_SAMPLE_BYTES", 4096)
    monkeypatch.setattr("slipway.data.formats._CSV_STREAM_BLOCK", 4096)
    rows = ["a,b"] + [f"{i},{i}" for i in range(5_000)] + ["1,2,3"] + ["5,6"] * 10
    path = tmp_path / "late.csv"
    path.write_text("\n".join(rows) + "\n")
    assert _arrow(path, None) is None
    with pytest.raises(InvalidArgument, match="at line 5002: expected 2 fields, saw 3"):
        inspect(path, "csv")


def test_types_past_the_sample_are_the_sample_s_but_rows_and_label_are_exact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A big file is typed from its first _CSV_SAMPLE_BYTES; only the label column is converted past it.
    monkeypatch.setattr("slipway.data.formats._CSV_SAMPLE_BYTES", 4096)
    monkeypatch.setattr("slipway.data.formats._CSV_STREAM_BLOCK", 4096)
    rows = ["a,label"] + [f"{i},{i % 2}" for i in range(5_000)] + ["late-text,1"]
    path = tmp_path / "drift.csv"
    path.write_text("\n".join(rows) + "\n")
    info = inspect(path, "csv", label="label")
    assert info.rows == 5_001
    assert [(c.name, c.dtype) for c in info.columns] == [("a", "int64"), ("label", "int64")]
    assert info.classes == {"0": 2_500, "1": 2_501}
    assert 0 < info.extra["sampled_rows"] < 5_001
    # A label value that does not fit the label's type sends the file to the exact reader, which merges.
    path.write_text("\n".join([*rows[:-1], "1,late-text"]) + "\n")
    info = inspect(path, "csv", label="label")
    assert [(c.name, c.dtype) for c in info.columns] == [("a", "int64"), ("label", "string")]
    assert "sampled_rows" not in info.extra and info.rows == 5_001
