"""Batch transform's splitting rules (SplitType, MaxRecords, MaxPayloadInMB, the input filter) and bad input."""

from __future__ import annotations

import io

import numpy as np
import orjson
import pandas as pd
import pytest

from slipway.errors import InvalidArgument, NotFound
from slipway.schemas.transforms import TransformRequest
from slipway.services import Platform

OPTIONS = {"split": "line", "batch": 4, "parallel": 1, "max_payload_mb": 6.0, "join": True, "retries": 0}


def test_mini_batches_follow_max_records_then_max_payload_and_drop_the_label(platform: Platform) -> None:
    frame = pd.DataFrame({"a": range(10), "b": [x / 3 for x in range(10)], "y": ["p", "q"] * 5})
    svc = platform.transforms
    batches = svc._batches(frame, "y", OPTIONS)
    assert [(s, e) for s, e, _, _ in batches] == [(0, 4), (4, 8), (8, 10)]
    assert all(body.startswith(b"a,b\n") and t == "text/csv" for _, _, body, t in batches)  # the label column is filtered out
    back = pd.concat([pd.read_csv(io.BytesIO(body)) for _, _, body, _ in batches], ignore_index=True)
    pd.testing.assert_frame_equal(back, frame[["a", "b"]])  # exact values, input order

    whole = svc._batches(frame, None, {**OPTIONS, "split": "none"})
    assert [(s, e) for s, e, _, _ in whole] == [(0, 10)]
    # A batch over MaxPayloadInMB is cut until it fits: 40 bytes hold a header and a few rows.
    small = svc._batches(frame, "y", {**OPTIONS, "max_payload_mb": 40 / 1048576})
    spans = [(s, e) for s, e, _, _ in small]
    assert len(spans) > 3 and all(len(b) <= 40 for _, _, b, _ in small)
    assert spans[0][0] == 0 and spans[-1][1] == 10 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    # The signature's own numeric columns, in order: JSON rows for the replica's fast path.
    [(start, end, body, ctype)] = svc._batches(frame, "y", {**OPTIONS, "batch": 100}, ["a", "b"])
    assert ctype == "application/json" and body.startswith(b'{"instances":[[0.0,0.0],[1.0,0.3333333333333333]')
    # A signature of floats only: a float64 .npy array, read by the replica without parsing a value.
    [(_, _, body, ctype)] = svc._batches(frame, "y", {**OPTIONS, "batch": 100}, ["a", "b"], npy=True)
    assert ctype == "application/x-npy"
    assert (np.load(io.BytesIO(body)) == frame[["a", "b"]].to_numpy(dtype=float)).all()
    [(_, _, _, ctype)] = svc._batches(frame, "y", {**OPTIONS, "batch": 100}, ["b", "a"])
    assert ctype == "text/csv"  # another order: the replica checks the header
    with pytest.raises(InvalidArgument, match="over the limit of 5 bytes"):
        svc._batches(frame, "y", {**OPTIONS, "max_payload_mb": 5 / 1048576})
    with pytest.raises(InvalidArgument, match="no rows"):
        svc._batches(frame.iloc[:0], None, OPTIONS)


def test_bad_requests_name_the_field(platform: Platform, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="batch"):
        TransformRequest(model="m:1", data="d:1", output="p", batch=0)
    with pytest.raises(ValueError, match="split"):
        TransformRequest(model="m:1", data="d:1", output="p", split="file")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        platform.transforms.create("t", TransformRequest(model="nope:1", data="d:1", output="p"))
    with pytest.raises(NotFound, match="Transform job 'missing' not found"):
        platform.transforms.get("missing")
    with pytest.raises(InvalidArgument):
        platform.transforms.get("bad/name")


def test_s3_objects_split_by_line_batch_by_payload_and_assemble(platform: Platform) -> None:
    svc = platform.transforms
    spec = {"split": "line", "strategy": "MultiRecord", "max_payload_mb": 7 / 1048576, "content_type": "text/csv",
            "assemble": "line", "join": False}
    records: list[bytes] = []
    batches = svc._object_batches(b"1,2\r\n3,4\n\n5,6\n", spec, records, "in/a.csv")
    assert records == [b"1,2", b"3,4", b"5,6"]
    assert [(s, e, body) for s, e, body, _ in batches] == [(0, 2, b"1,2\n3,4"), (2, 3, b"5,6")]
    single = svc._object_batches(b"7,8\n9,9\n", {**spec, "strategy": "SingleRecord"}, records, "in/b.csv")
    assert [(s, e) for s, e, _, _ in single] == [(3, 4), (4, 5)]
    assert svc._assemble_object(spec, batches, [b"0\n1", b"1\n"], records) == b"0\n1\n1\n"
    assert svc._assemble_object({**spec, "assemble": "none"}, batches, [b"0\n1", b"1"], records) == b"0\n11"
    joined = svc._assemble_object({**spec, "join": True}, batches, [b"0\n1", b"1"], records)
    assert joined == b"1,2,0\n3,4,1\n5,6,1\n"
    with pytest.raises(RuntimeError, match="2 output lines for 1 input records"):
        svc._assemble_object({**spec, "join": True}, batches[1:], [b"1\n0"], records)
    with pytest.raises(InvalidArgument, match="Record 1 of object 'in/c.csv'"):
        svc._object_batches(b"12345678\n", spec, [], "in/c.csv")
    with pytest.raises(InvalidArgument, match="use SplitType Line"):
        svc._object_batches(b"1,2\n3,4\n", {**spec, "split": "none"}, [], "in/d.csv")


def test_output_rows_column_by_column_match_row_by_row() -> None:
    """The column-wise writer (one shape of prediction) and the row-wise one (any other) write the same cells."""
    from slipway.services.transforms import _Chunker, _write_csv

    frame = pd.DataFrame({"f": [1, 2], "label": [0, 1]})
    preds = [{"label": "a,b", "confidence": 0.5, "probabilities": {"x": 0.25, "y": 1}},
             {"label": "c", "confidence": 1.0, "probabilities": {"x": 0.1, "y": 2}}]
    out = io.BytesIO()
    _write_csv(out, frame, [preds], [b"f,label", b"1,0", b"2,1"], join=True)
    assert out.getvalue() == (b'f,label,prediction_label,confidence,probability_x,probability_y\n'
                              b'1,0,"a,b",0.5,0.25,1\n2,1,c,1.0,0.1,2\n')
    # Batches made into output rows by the sending threads as they arrive: the same bytes, concatenated.
    lines = [b"f,label", b"1,0", b"2,1"]
    for join in (True, False):
        whole, parts = io.BytesIO(), io.BytesIO()
        _write_csv(whole, frame, [preds], lines, join=join)
        chunker = _Chunker(lines, [(0, 1, b"", ""), (1, 2, b"", "")], join)
        chunks = [chunker(0, preds[:1]), chunker(1, preds[1:])]
        assert all(c.names is not None for c in chunks)
        _write_csv(parts, frame, chunks, lines, join=join)
        assert parts.getvalue() == whole.getvalue()
    # Batches of different shapes (or a batch with a prediction too few): row by row, the same checks.
    odd = [chunker(0, preds[:1]), chunker(1, [{"label": "c"}])]
    assert odd[1].names is not None and odd[0].names != odd[1].names
    out = io.BytesIO()
    _write_csv(out, frame, odd, lines, join=False)
    assert out.getvalue() == b"label,confidence,probability_x,probability_y\n\"a,b\",0.5,0.25,1\nc,,,\n"
    assert chunker(1, []).names is None
    with pytest.raises(RuntimeError, match="1 predictions for 2 rows"):
        _write_csv(io.BytesIO(), frame, [chunker(0, preds[:1]), chunker(1, [])], lines, join=False)
    mixed = [{"value": 1.5}, {"value": 2.5, "extra": [1]}]  # another shape: row by row, same cells
    out = io.BytesIO()
    _write_csv(out, frame, [orjson.dumps({"predictions": mixed})], None, join=False)
    assert out.getvalue() == b"value,extra\n1.5,\n2.5,[1]\n"
    with pytest.raises(RuntimeError, match="1 predictions for 2 rows"):
        _write_csv(io.BytesIO(), frame, [preds[:1]], None, join=False)


def test_a_csv_read_in_blocks_while_sending_gives_the_whole_files_batches(platform: Platform) -> None:
    """The stream (blocks of whole batches, read while the first ones are sent) cuts the same batches, the same
    bytes, as reading the whole file first; any file it cannot read one row per line goes the whole-file way."""
    from slipway.services.transforms import _parse, _Stream

    svc = platform.transforms
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(1003, 3)), columns=["a", "b", "c"]).assign(y=["p", "q"] * 501 + ["p"])
    frame["b"] = frame["b"].round(0).astype(int)  # an int column: its blocks' types are their own
    raw = frame.to_csv(index=False).replace("\n", "\r\n").encode()  # CRLF: the lines as stored without it
    options = {**OPTIONS, "batch": 7, "parallel": 2}
    whole, lines = _parse(raw, "csv")
    for npy in (True, False):
        expected = svc._batches(whole, "y", options, ["a", "b", "c"], npy)
        stream = _Stream.of(raw, "csv", "y", options, ["a", "b", "c"], npy, svc._batches)
        assert stream is not None and 0 < len(stream.payloads) < len(expected) and not stream.done
        while not stream.done:
            stream.next_block()
        assert stream.payloads == expected and stream.lines == lines and stream.rows == 1003
        pd.testing.assert_frame_equal(stream.frame(), whole, check_dtype=False)
    # The whole file first: quotes (a line may not be a row), a blank line, text where the signature wants
    # numbers (the whole file decides the batches go as CSV), split none, JSON lines.
    blank = raw.replace(b"\r\n", b"\r\n \r\n", 1)
    for body, names, opts in ((b'a,b\n"1",2\n', ["a", "b"], options), (blank, ["a", "b", "c"], options),
                              (raw + b"  ", ["a", "b", "c"], options),
                              (b"a,b\nx,2\n", ["a", "b"], options), (raw, ["a", "b", "c"], {**options, "split": "none"}),
                              (raw, None, options)):
        assert _Stream.of(body, "csv", "y", opts, names, True, svc._batches) is None
    assert _Stream.of(b'{"a": 1}\n', "jsonl", None, options, ["a"], True, svc._batches) is None
    # A bad line past the first block is reported as the whole file reports it (its line number).
    bad = raw + b"1,2,3,p,9\r\n"
    stream = _Stream.of(bad, "csv", "y", options, ["a", "b", "c"], True, svc._batches)
    assert stream is not None
    with pytest.raises(pd.errors.ParserError, match="line 1005"):
        while not stream.done:
            stream.next_block()
