"""Payload decoding against a signature, and prediction encoding, without a server."""

from __future__ import annotations

import io

import numpy as np
import orjson
import pytest

from slipway.errors import InvalidArgument
from slipway.serving.payloads import check_finite, decode, encode, missing_values, wants_csv

SIG = {"input_kind": "tabular", "inputs": [{"name": "age", "dtype": "float64"}, {"name": "size", "dtype": "float64"}],
       "labels": ["no", "yes"]}


def j(obj: object) -> bytes:
    return orjson.dumps(obj)


@pytest.mark.parametrize("body", [
    {"instances": [[31, 2.5], [40, 1]]},
    {"inputs": [[31, 2.5], [40, 1]]},
    {"inputs": {"age": [31, 40], "size": [2.5, 1]}},
    [{"age": 31, "size": 2.5}, {"size": 1, "age": 40}],
    {"dataframe_split": {"columns": ["size", "age"], "data": [[2.5, 31], [1, 40]]}},
    {"dataframe_records": [{"age": 31, "size": 2.5}, {"age": 40, "size": 1}]},
])
def test_json_shapes_give_the_same_frame(body: object) -> None:
    frame = decode(j(body), "application/json", SIG)
    assert list(frame.columns) == ["age", "size"]
    assert frame.to_numpy().tolist() == [[31.0, 2.5], [40.0, 1.0]]


def test_csv_with_and_without_header_and_npy() -> None:
    assert decode(b"31,2.5\n40,1\n", "text/csv", SIG).to_numpy().tolist() == [[31, 2.5], [40, 1]]
    assert decode(b"size,age\n2.5,31\n", "text/csv; charset=utf-8", SIG).to_numpy().tolist() == [[31, 2.5]]
    buf = io.BytesIO()
    np.save(buf, np.array([[31, 2.5], [40, 1]]))
    assert decode(buf.getvalue(), "application/x-npy", SIG).to_numpy().tolist() == [[31, 2.5], [40, 1]]
    one = io.BytesIO()
    np.save(one, np.array([31, 2.5]))
    assert decode(one.getvalue(), "application/x-npy", SIG).shape == (1, 2)


@pytest.mark.parametrize("body, ctype, match", [
    (b'{"instances": [[1, 2', "application/json", "not valid JSON"),
    (j({"instances": [[1, 2, 3]]}), "application/json", r"Row 0 has 3 values. Expected the signature: 2 features: "
                                                        r"age \(float64\), size \(float64\)"),
    (j([{"age": 1, "height": 2}]), "application/json", "unknown feature 'height'.*age.*size"),
    (j([{"age": 1}]), "application/json", "missing feature 'size'"),
    (j({"instances": [[1, "two"]]}), "application/json", r"Feature 'size' in row 0 has value 'two'. Expected a number"),
    (j({"instances": []}), "application/json", "The batch is empty"),
    (j({"rows": [[1, 2]]}), "application/json", "Expected one of"),
    (b"1,abc\n", "text/csv", r"CSV row 1, feature 'size' has value 'abc'"),
    (b"1,2,3\n", "text/csv", "CSV row 1 has 3 values"),
    (b"\n", "text/csv", "no rows"),
    (b"not npy", "application/x-npy", "not a readable .npy"),
])
def test_bad_input_names_the_problem(body: bytes, ctype: str, match: str) -> None:
    with pytest.raises(InvalidArgument, match=match) as info:
        decode(body, ctype, SIG)
    assert info.value.status_code == 400


def test_unsupported_types() -> None:
    with pytest.raises(InvalidArgument, match="Expected application/json, text/csv") as info:
        decode(b"x", "image/png", SIG)
    assert info.value.status_code == 415
    with pytest.raises(InvalidArgument) as info:
        wants_csv("application/xml")
    assert info.value.status_code == 406
    assert wants_csv("text/csv") and not wants_csv("") and not wants_csv("*/*")


def test_encode_json_and_csv() -> None:
    preds = [{"label": "yes", "confidence": 0.9, "probabilities": {"no": 0.1, "yes": 0.9}}]
    body, ct = encode(preds, csv_out=False)
    assert ct == "application/json" and orjson.loads(body) == {"predictions": preds}
    body, ct = encode(preds, csv_out=True)
    assert (ct, body.decode()) == ("text/csv", "label,confidence,no,yes\nyes,0.9,0.1,0.9\n")
    body, _ = encode([{"value": 3.5}, {"value": 1.0}], csv_out=True)
    assert body.decode() == "value\n3.5\n1.0\n"


def _npy(arr: object) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr))
    return buf.getvalue()


@pytest.mark.parametrize("body, ctype, where", [
    (b"31,2.5\n40,inf\n", "text/csv", "CSV row 2, feature 'size' (column 1) has value inf"),
    (b"size,age\n2.5,31\n-inf,40\n", "text/csv", "CSV row 2, feature 'size' (column 1) has value -inf"),
    (b"31,Infinity\n", "text/csv", "CSV row 1, feature 'size' (column 1) has value inf"),
    (_npy([[31, 2.5], [-np.inf, 1]]), "application/x-npy", "Row 1, feature 'age' (column 0) has value -inf"),
    (_npy([31, np.inf]), "application/x-npy", "Row 0, feature 'size' (column 1) has value inf"),
])
def test_infinity_is_a_400_naming_the_row_and_column(body: bytes, ctype: str, where: str) -> None:
    with pytest.raises(InvalidArgument, match="Expected a finite number") as info:
        decode(body, ctype, SIG)
    assert info.value.status_code == 400 and info.value.message.startswith(where)
    assert {"row", "column", "feature", "value"} <= set(info.value.details)


def test_infinity_in_array_inputs_names_its_position() -> None:
    sig = {"input_kind": "array", "inputs": [], "input_shape": [2, 2]}
    with pytest.raises(InvalidArgument, match=r"Row 0, position \[1, 0\] has value inf"):
        decode(_npy([[[0, 0], [np.inf, 0]]]), "application/x-npy", sig)
    with pytest.raises(InvalidArgument, match="CSV row 1, column 1 has value -inf"):
        decode(b"1,-inf\n", "text/csv", {"input_kind": "array", "inputs": []})


def test_missing_values_pass_decoding_and_are_named_when_the_model_refuses_them() -> None:
    frame = decode(b"31,\n40,nan\n", "text/csv", SIG)  # an imputing pipeline takes these
    assert np.isnan(frame.to_numpy()[:, 1]).all()
    bad = missing_values(frame, None, "CSV row", 1)
    assert bad is not None and bad.message.startswith("CSV row 1, feature 'size' (column 1) has no value")
    assert missing_values(decode(b"31,2\n", "text/csv", SIG)) is None


def test_the_finite_check_finds_one_bad_value_in_a_large_batch() -> None:
    rows = np.ones((100_000, 30))
    rows[77_777, 29] = np.inf
    with pytest.raises(InvalidArgument, match="Row 77777, column 29 has value inf"):
        check_finite(rows)
