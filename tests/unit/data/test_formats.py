"""Detecting and inspecting every dataset format, as a user uploading one would see it."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from slipway.data import FORMATS, ColumnInfo, DatasetInfo, detect_format, inspect
from slipway.errors import InvalidArgument


def columns(info: DatasetInfo) -> dict[str, tuple[str, int]]:
    return {c.name: (c.dtype, c.nulls) for c in info.columns}


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def make_image_folder(root: Path, counts: dict[str, int], size: tuple[int, int] = (8, 6)) -> Path:
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", size, (i * 10 % 255, 0, 0)).save(root / cls / f"{i:03d}.png")
    return root


def make_text_folder(root: Path, counts: dict[str, int]) -> Path:
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i:03d}.txt").write_text(f"review {i} of class {cls}\n")
    return root


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    """One small file of each file format, with its usual extension."""
    df = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, None, 1.5], "label": ["a", "b", "a"]})
    paths = {
        "csv": tmp_path / "d.csv",
        "parquet": tmp_path / "d.parquet",
        "jsonl": tmp_path / "d.jsonl",
        "npy": tmp_path / "d.npy",
        "npz": tmp_path / "d.npz",
    }
    df.to_csv(paths["csv"], index=False)
    df.to_parquet(paths["parquet"], index=False)
    df.to_json(paths["jsonl"], orient="records", lines=True)
    np.save(paths["npy"], np.zeros((4, 2)))
    np.savez(paths["npz"], x=np.zeros((4, 2)), y=np.arange(4))
    return paths


# ---------------------------------------------------------------- detect_format


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "npy", "npz"])
def test_detect_by_extension(samples: dict[str, Path], fmt: str) -> None:
    assert detect_format(samples[fmt]) == fmt


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl", "npy", "npz"])
def test_detect_by_content_when_extension_is_unknown(
    samples: dict[str, Path], tmp_path: Path, fmt: str
) -> None:
    upload = tmp_path / "upload-0001"
    upload.write_bytes(samples[fmt].read_bytes())
    assert detect_format(upload) == fmt
    assert detect_format(upload, filename="train.dat") == fmt


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("x.pq", "parquet"), ("x.ndjson", "jsonl"), ("X.CSV", "csv"), ("cancer.csv", "csv")],
)
def test_filename_extension_wins_over_path_name(
    tmp_path: Path, filename: str, expected: str
) -> None:
    upload = tmp_path / "tmp8f3a"
    upload.write_bytes(b"irrelevant")
    assert detect_format(upload, filename=filename) == expected


def test_a_folder_of_binary_files_in_subfolders_is_a_files_dataset(tmp_path: Path) -> None:
    """E.g. gzipped IDX files or model checkpoints, one subfolder each: not text, not images."""
    for sub, name in (("train", "images.gz"), ("test", "labels.gz")):
        (tmp_path / "data" / sub).mkdir(parents=True)
        (tmp_path / "data" / sub / name).write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)))
    assert detect_format(tmp_path / "data") == "files"
    (tmp_path / "texts" / "pos").mkdir(parents=True)
    (tmp_path / "texts" / "pos" / "a.txt").write_text("a fine film")
    assert detect_format(tmp_path / "texts") == "text-folder"


def test_hint_wins_and_is_validated(samples: dict[str, Path]) -> None:
    assert detect_format(samples["csv"], hint="jsonl") == "jsonl"
    with pytest.raises(InvalidArgument) as err:
        detect_format(samples["csv"], hint="excel")
    assert "'excel'" in err.value.message
    assert "csv, parquet, jsonl, npy, npz, text-folder, image-folder" in err.value.message
    assert err.value.details == {"field": "format", "value": "excel", "expected": list(FORMATS)}


def test_unknown_content_names_the_file_and_the_fix(tmp_path: Path) -> None:
    blob = tmp_path / "x.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InvalidArgument) as err:
        detect_format(blob)
    assert err.value.message == (
        "Unknown dataset format for 'x.bin': expected one of csv, parquet, jsonl, npy, npz, "
        "text-folder, image-folder, files; pass --format."
    )


def test_detect_empty_file_says_empty(tmp_path: Path) -> None:
    empty = tmp_path / "data"
    empty.touch()
    with pytest.raises(InvalidArgument, match="'data' is empty"):
        detect_format(empty)


def test_detect_folders(tmp_path: Path) -> None:
    images = make_image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    (images / "cat" / "notes.txt").write_text("one stray text file")
    texts = make_text_folder(tmp_path / "reviews", {"pos": 2, "neg": 2})
    (texts / "pos" / "README").write_text("no extension counts as text")
    assert detect_format(images) == "image-folder"
    assert detect_format(texts) == "text-folder"


# ---------------------------------------------------------------- csv


def test_inspect_csv_schema_nulls_and_classes(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "cancer.csv",
        "radius,texture,smoker,name,diagnosis\n1,2.5,True,ann,M\n2,,False,,B\n3,4.0,True,cid,B\n",
    )
    info = inspect(path, "csv", label="diagnosis")
    assert info.format == "csv"
    assert info.rows == 3
    assert columns(info) == {
        "radius": ("int64", 0),
        "texture": ("float64", 1),
        "smoker": ("bool", 0),
        "name": ("string", 1),
        "diagnosis": ("string", 0),
    }
    assert info.label == "diagnosis"
    assert info.classes == {"B": 2, "M": 1}
    assert json.loads(json.dumps(info.to_dict()))["columns"][0] == {
        "name": "radius",
        "dtype": "int64",
        "nulls": 0,
    }


def test_csv_types_merge_across_chunks(tmp_path: Path) -> None:
    # 150k rows is three pandas chunks: the late rows change what each column holds.
    n = 150_000
    lines = ["id,count,code,empty,label"]
    for i in range(n):
        late = i >= 120_000
        count = "" if late and i % 2 else str(i)
        code = f"c{i}" if late else str(i % 7)
        lines.append(f"{i},{count},{code},,{i % 3}")
    path = write_csv(tmp_path / "big.csv", "\n".join(lines) + "\n")
    info = inspect(path, "csv", label="label")
    assert info.rows == n
    assert columns(info) == {
        "id": ("int64", 0),
        "count": ("float64", 15_000),  # ints, then ints with gaps
        "code": ("string", 0),  # ints, then text
        "empty": ("float64", n),  # never a value
        "label": ("int64", 0),
    }
    assert info.classes == {"0": 50_000, "1": 50_000, "2": 50_000}


def test_csv_of_50_mb_is_counted(tmp_path: Path) -> None:
    block = "".join(f"{i},{i * 0.5},text-{i % 97},{i % 2}\n" for i in range(10_000))
    path = tmp_path / "large.csv"
    repeats = 0
    with path.open("w") as fh:
        fh.write("a,b,c,label\n")
        while fh.tell() < 50_000_000:
            fh.write(block)
            repeats += 1
    info = inspect(path, "csv", label="label")
    assert info.rows == repeats * 10_000
    assert columns(info)["b"] == ("float64", 0)
    assert info.classes == {"0": repeats * 5_000, "1": repeats * 5_000}


def test_ragged_csv_names_the_line(tmp_path: Path) -> None:
    rows = ["a,b,c"] + [f"{i},{i},{i}" for i in range(5)] + ["1,2,3,4", "5,6,7"]
    path = write_csv(tmp_path / "cancer.csv", "\n".join(rows) + "\n")
    with pytest.raises(InvalidArgument) as err:
        inspect(path, "csv")
    assert err.value.message.startswith(
        "Malformed CSV in 'cancer.csv' at line 7: expected 3 fields, saw 4."
    )
    assert err.value.details["line"] == 7


def test_ragged_row_deep_in_a_large_csv_names_the_line(tmp_path: Path) -> None:
    rows = ["a,b"] + [f"{i},{i}" for i in range(120_000)] + ["1,2,3"]
    path = write_csv(tmp_path / "deep.csv", "\n".join(rows) + "\n")
    with pytest.raises(InvalidArgument, match="at line 120002: expected 2 fields, saw 3"):
        inspect(path, "csv")


def test_ragged_first_row_is_not_taken_for_an_index(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "a,b\n1,2,3\n4,5\n")
    with pytest.raises(InvalidArgument, match="'x.csv' at line 2: expected 2 fields, saw 3"):
        inspect(path, "csv")


def test_csv_with_a_quoted_comma_is_fine(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "q.csv", 'a,b\n1,"x, y"\n2,z\n')
    info = inspect(path, "csv")
    assert info.rows == 2
    assert columns(info) == {"a": ("int64", 0), "b": ("string", 0)}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Dataset file 'e.csv' is empty (0 bytes): expected a CSV file with at least one row."),
        ("a,b,c\n", "CSV file 'e.csv' has a header but no rows"),
    ],
)
def test_empty_csv(tmp_path: Path, text: str, message: str) -> None:
    path = write_csv(tmp_path / "e.csv", text)
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        inspect(path, "csv")


def test_binary_file_as_csv_says_utf8_expected(tmp_path: Path) -> None:
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    with pytest.raises(InvalidArgument) as err:
        inspect(path, "csv")
    assert "'photo.csv' is not valid CSV" in err.value.message
    assert "expected UTF-8 text" in err.value.message


def test_bad_byte_deep_in_the_file_names_the_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "late.csv"
    csv_path.write_bytes(b"a,b\n" + b"1,2\n" * 30_000 + b"3,\xff\n")
    with pytest.raises(InvalidArgument) as err:
        inspect(csv_path, "csv")
    assert err.value.message == (
        "'late.csv' is not valid CSV: found invalid byte 0xff at line 30002; expected UTF-8 text."
    )
    jsonl_path = tmp_path / "late.jsonl"
    jsonl_path.write_bytes(b'{"a": 1}\n' * 30_000 + b'{"a": "\xff"}\n')
    with pytest.raises(InvalidArgument, match="found invalid byte 0xff at line 30001"):
        inspect(jsonl_path, "jsonl")


def test_unknown_label_lists_the_columns(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cancer.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(InvalidArgument) as err:
        inspect(path, "csv", label="foo")
    assert err.value.message == "Label column 'foo' not found in cancer.csv; columns are: a, b, c."
    assert err.value.details == {"field": "label", "value": "foo", "expected": ["a", "b", "c"]}


def test_unknown_label_in_a_wide_table_is_truncated(tmp_path: Path) -> None:
    header = ",".join(f"f{i}" for i in range(80))
    path = write_csv(tmp_path / "wide.csv", header + "\n" + ",".join(["1"] * 80) + "\n")
    with pytest.raises(InvalidArgument) as err:
        inspect(path, "csv", label="target")
    assert "columns are: f0, f1," in err.value.message
    assert "f19, … (60 more)." in err.value.message
    assert len(err.value.details["expected"]) == 50


def test_label_with_too_many_values_has_no_classes(tmp_path: Path) -> None:
    body = "".join(f"{i},{i * 1.5}\n" for i in range(1_500))
    info = inspect(write_csv(tmp_path / "r.csv", "x,price\n" + body), "csv", label="price")
    assert info.label == "price"
    assert info.classes is None
    assert info.extra == {"classes_truncated": True}


# ---------------------------------------------------------------- parquet


def test_inspect_parquet_over_row_groups(tmp_path: Path) -> None:
    n = 10_000
    table = pa.table(
        {
            "age": pa.array([None if i % 10 == 0 else i for i in range(n)], pa.int32()),
            "score": pa.array([i / 3 for i in range(n)], pa.float32()),
            "city": pa.array([None if i % 4 == 0 else f"c{i % 3}" for i in range(n)]),
            "seen": pa.array([pd.Timestamp("2024-01-01")] * n, pa.timestamp("us")),
            "ok": pa.array([i % 2 == 0 for i in range(n)]),
        }
    )
    path = tmp_path / "people.parquet"
    pq.write_table(table, path, row_group_size=1_000)
    info = inspect(path, "parquet", label="city")
    assert info.rows == n
    assert columns(info) == {
        "age": ("int64", 1_000),
        "score": ("float64", 0),
        "city": ("string", 2_500),
        "seen": ("datetime64", 0),
        "ok": ("bool", 0),
    }
    assert info.classes == {"c0": 2_500, "c1": 2_500, "c2": 2_500}


def test_parquet_without_statistics_still_counts_nulls(tmp_path: Path) -> None:
    path = tmp_path / "nostats.parquet"
    pq.write_table(pa.table({"a": [1, None, None, 4]}), path, write_statistics=False)
    assert columns(inspect(path, "parquet")) == {"a": ("int64", 2)}


def test_parquet_label_must_be_a_column(samples: dict[str, Path]) -> None:
    with pytest.raises(InvalidArgument, match="Label column 'target' not found in d.parquet"):
        inspect(samples["parquet"], "parquet", label="target")


def test_parquet_with_no_rows_or_bad_bytes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"a": pa.array([], pa.int64())}), empty)
    with pytest.raises(InvalidArgument, match="Parquet file 'empty.parquet' has no rows"):
        inspect(empty, "parquet")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 this is not really parquet")
    with pytest.raises(InvalidArgument, match="'bad.parquet' is not a valid Parquet file"):
        inspect(bad, "parquet")


# ---------------------------------------------------------------- jsonl


def test_inspect_jsonl_with_keys_that_come_and_go(tmp_path: Path) -> None:
    records = [{"text": f"t{i}", "stars": i % 5} for i in range(25_000)]
    records += [{"text": "late", "stars": 1.5, "lang": "en"}]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    info = inspect(path, "jsonl", label="stars")
    assert info.rows == 25_001
    assert columns(info) == {
        "text": ("string", 0),
        "stars": ("float64", 0),
        "lang": ("string", 25_000),
    }
    assert info.classes == {"0": 5_000, "1": 5_000, "1.5": 1, "2": 5_000, "3": 5_000, "4": 5_000}


@pytest.mark.parametrize(
    ("line", "problem"),
    [('{"a": 1,', "Expecting property name"), ("[1, 2]", "found an array")],
)
def test_malformed_jsonl_names_the_line(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n' + line + "\n")
    with pytest.raises(InvalidArgument) as err:
        inspect(path, "jsonl")
    assert err.value.message.startswith("Malformed JSONL in 'bad.jsonl' at line 3: ")
    assert problem in err.value.message
    assert err.value.message.endswith("expected one JSON object per line.")


def test_jsonl_without_records_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_text("\n\n")
    with pytest.raises(InvalidArgument, match="JSONL file 'blank.jsonl' has no records"):
        inspect(path, "jsonl")


# ---------------------------------------------------------------- npy / npz


def test_inspect_npy(tmp_path: Path) -> None:
    path = tmp_path / "digits.npy"
    np.save(path, np.zeros((1797, 8, 8), dtype=np.uint8))
    info = inspect(path, "npy")
    assert info.rows == 1797
    assert info.columns == [ColumnInfo("digits", "uint8", 0)]
    assert info.extra == {"shapes": {"digits": [1797, 8, 8]}}


def test_npy_refuses_labels_pickles_and_truncation(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.arange(100))
    with pytest.raises(InvalidArgument, match="an .npy file holds a single array"):
        inspect(path, "npy", label="y")
    path.write_bytes(path.read_bytes()[:-80])
    with pytest.raises(InvalidArgument, match="'x.npy' is truncated"):
        inspect(path, "npy")
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidArgument, match="holds Python objects"):
        inspect(pickled, "npy")
    garbage = tmp_path / "garbage.npy"
    garbage.write_bytes(b"not numpy at all")
    with pytest.raises(InvalidArgument, match="'garbage.npy' is not a valid .npy array"):
        inspect(garbage, "npy")


def test_inspect_npz_with_label(tmp_path: Path) -> None:
    path = tmp_path / "digits.npz"
    np.savez_compressed(
        path, x=np.zeros((1797, 8, 8)), y=np.arange(1797) % 10, names=np.array(["a", "bb"])
    )
    info = inspect(path, "npz", label="y")
    assert info.rows is None  # members disagree on their first axis
    assert columns(info) == {"x": ("float64", 0), "y": ("int64", 0), "names": ("string", 0)}
    assert info.extra == {"shapes": {"x": [1797, 8, 8], "y": [1797], "names": [2]}}
    assert info.label == "y"
    assert info.classes == {str(d): 180 if d < 7 else 179 for d in range(10)}


def test_npz_rows_and_missing_label(samples: dict[str, Path]) -> None:
    assert inspect(samples["npz"], "npz").rows == 4
    with pytest.raises(InvalidArgument) as err:
        inspect(samples["npz"], "npz", label="target")
    assert err.value.message == "Label array 'target' not found in d.npz; arrays are: x, y."


def test_zip_that_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "photos.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hello")
    with pytest.raises(InvalidArgument, match="'photos.npz' holds no .npy arrays"):
        inspect(path, "npz")
    path.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(InvalidArgument, match="'photos.npz' is not a valid .npz archive"):
        inspect(path, "npz")


def test_empty_array(tmp_path: Path) -> None:
    path = tmp_path / "none.npy"
    np.save(path, np.zeros((0, 3)))
    with pytest.raises(InvalidArgument, match="expected at least one row"):
        inspect(path, "npy")


# ---------------------------------------------------------------- folders


def test_inspect_image_folder(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "pets", {"cat": 4, "dog": 2})
    Image.new("L", (16, 16)).save(root / "dog" / "big.jpg")
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x01hidden")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes(b"hidden too")
    info = inspect(root, "image-folder", label="ignored")
    assert info.format == "image-folder"
    assert info.rows == 7
    assert info.label == "class"
    assert info.classes == {"cat": 4, "dog": 3}
    assert info.extra["image_sizes"] == [[8, 6], [16, 16]]
    assert info.extra["image_modes"] == ["L", "RGB"]
    assert info.extra["extensions"] == {".jpg": 1, ".png": 6}


def test_inspect_text_folder_with_one_class(tmp_path: Path) -> None:
    root = make_text_folder(tmp_path / "reviews", {"pos": 3})
    (root / "neg").mkdir()
    info = inspect(root, "text-folder")
    assert info.rows == 3
    assert info.classes == {"pos": 3}
    assert info.extra["empty_classes"] == ["neg"]


def test_folder_without_classes_or_files(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "a.txt").write_text("no class folder")
    with pytest.raises(InvalidArgument, match="'flat' has no class subfolders"):
        inspect(flat, "text-folder")
    (flat / "pos").mkdir()
    (flat / "neg").mkdir()
    with pytest.raises(
        InvalidArgument, match=r"'flat' has no files in its class subfolders \(neg, pos\)"
    ):
        detect_format(flat)


def test_folder_of_plain_files_is_kept_as_files_with_idx_shapes(tmp_path: Path) -> None:
    import gzip

    mnist = tmp_path / "mnist"
    mnist.mkdir()
    images = bytes([0, 0, 0x08, 3]) + (5).to_bytes(4, "big") + (8).to_bytes(4, "big") * 2 + bytes(5 * 64)
    (mnist / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (mnist / "train-labels-idx1-ubyte").write_bytes(bytes([0, 0, 0x08, 1]) + (5).to_bytes(4, "big") + bytes(5))
    (mnist / "README").write_text("not idx")
    assert detect_format(mnist) == "files"
    info = inspect(mnist, "files")
    assert (info.format, info.rows, info.label, info.classes) == ("files", 3, None, None)
    assert info.extra["idx_shapes"] == {"train-images-idx3-ubyte.gz": [5, 8, 8], "train-labels-idx1-ubyte": [5]}
    assert info.extra["extensions"] == {"": 2, ".gz": 1}
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidArgument, match="'empty' holds no file"):
        inspect(empty, detect_format(empty))


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "pets", {"cat": 1})
    (root / "cat" / "000.png").write_bytes(b"not a png")
    with pytest.raises(
        InvalidArgument, match="Cannot read image 'cat/000.png' in folder dataset 'pets'"
    ):
        inspect(root, "image-folder")


def test_image_folder_inspected_as_text_says_so(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "pets", {"cat": 1})
    with pytest.raises(InvalidArgument) as err:
        inspect(root, "text-folder")
    assert "File 'cat/000.png' in text folder 'pets' is not text" in err.value.message
    assert "expected UTF-8 text" in err.value.message
    texts = make_text_folder(tmp_path / "reviews", {"pos": 1})
    with pytest.raises(InvalidArgument, match="'reviews' has no image files"):
        inspect(texts, "image-folder")
