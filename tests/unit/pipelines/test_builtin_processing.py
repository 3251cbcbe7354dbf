"""Built-in processing (split, scale, one-hot, impute): the transforms, the checks at submission, and one job
of each kind that matters through a real Platform (the job runner's process, outputs pushed with lineage)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from slipway import processing
from slipway.db.models import Reference
from slipway.errors import InvalidArgument
from slipway.pipelines import Pipeline
from slipway.schemas.jobs import CreateJobRequest
from slipway.services import Platform
from tests.support.job_driver import run_jobs


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"size": [1.0, 2.0, np.nan, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
                         "color": ["red", "blue", "red", None, "green", "red", "blue", "red", "green", "red"],
                         "label": ["a", "a", "a", "a", "b", "b", "b", "b", "b", "b"]})


def test_split_is_stratified_seeded_and_covers_every_row() -> None:
    frame = pd.concat([_frame()] * 10, ignore_index=True).assign(row=range(100))
    params = processing.check_parameters("split", {"test": "0.2", "seed": "3"}, ["raw"], ["train", "test"])
    assert params["train"] == pytest.approx(0.8) and params["stratify"] is True
    out = processing.apply("split", frame, params | {"label": "label"}, ["train", "test"])
    assert len(out["train"]) == 80 and len(out["test"]) == 20
    assert sorted(pd.concat(out.values())["row"]) == list(range(100))  # every row once
    assert out["test"]["label"].value_counts().to_dict() == {"b": 12, "a": 8}  # 40 % a, as in the input
    again = processing.apply("split", frame, params | {"label": "label"}, ["train", "test"])
    assert again["test"]["row"].tolist() == out["test"]["row"].tolist()  # same seed, same rows
    three = processing.check_parameters("split", {}, ["raw"], ["train", "validation", "test"])
    assert [three[c] for c in ("train", "validation", "test")] == pytest.approx([0.7, 0.15, 0.15])


def test_scale_one_hot_and_impute_keep_the_label() -> None:
    frame = _frame().assign(size=lambda f: f["size"].fillna(0.0))
    std = processing.scale(frame, "standard", None, "label")
    assert std["size"].mean() == pytest.approx(0) and std["size"].std(ddof=0) == pytest.approx(1)
    mm = processing.scale(frame, "minmax", None, "label")
    assert mm["size"].min() == 0 and mm["size"].max() == 1
    assert mm["label"].tolist() == frame["label"].tolist()
    hot = processing.one_hot(_frame(), None, "label")
    assert list(hot.columns) == ["size", "color_blue", "color_green", "color_red", "label"]
    assert hot["color_red"].sum() == 5
    assert processing.impute(_frame(), "mean", None, "label")["size"][2] == pytest.approx(52 / 9)
    assert processing.impute(_frame(), "median", None, "label")["size"][2] == 6.0
    filled = processing.impute(_frame(), "most_frequent", None, "label")
    assert filled["color"][3] == "red" and filled["size"].notna().all()


@pytest.mark.parametrize(("builtin", "params", "outputs", "field"), [
    ("split", {"train": 1.5}, ["train", "test"], "hyperparameters.train"),
    ("split", {"train": 0.5, "test": 0.2}, ["train", "test"], "hyperparameters.test"),  # sums to 0.7
    ("split", {"validation": 0.1}, ["train", "test"], "hyperparameters.validation"),  # no such output
    ("split", {}, ["train", "holdout"], "outputs"),
    ("scale", {"method": "log"}, ["out"], "hyperparameters.method"),
    ("scale", {}, ["a", "b"], "outputs"),
    ("impute", {"strategy": "zero"}, ["out"], "hyperparameters.strategy"),
    ("one-hot", {"bins": 3}, ["out"], "hyperparameters.bins"),
    ("bucket", {}, ["out"], "builtin"),
])
def test_bad_parameters_are_refused_naming_the_field(builtin: str, params: dict[str, object], outputs: list[str],
                                                     field: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        processing.check_parameters(builtin, params, ["raw"], outputs)
    assert err.value.details["field"] == field


@pytest.fixture
def raw(platform: Platform, tmp_path: Path) -> str:
    path = tmp_path / "raw.csv"
    pd.concat([_frame()] * 4, ignore_index=True).to_csv(path, index=False)
    return platform.datasets.push("raw", path, filename="raw.csv", label="label").version.ref


def test_outputs_are_parquet_when_the_input_is_parquet_else_csv(tmp_path: Path) -> None:
    for name, write in (("in.parquet", lambda f, p: f.to_parquet(p, index=False)),
                        ("in.csv", lambda f, p: f.to_csv(p, index=False))):
        folder = tmp_path / name.replace(".", "-")
        folder.mkdir()
        write(_frame(), folder / name)
        frame, stem, suffix = processing._read(folder)
        out = processing._write(processing.scale(frame, "minmax", None, "label"), tmp_path, f"{stem}-x", suffix)
        back = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
        assert out.name == ("in-x.parquet" if name.endswith("parquet") else "in-x.csv")
        assert list(back.columns) == ["size", "color", "label"] and back["size"].max() == 1


def test_a_folder_of_tables_is_read_as_one_sorted_by_name(tmp_path: Path) -> None:
    first, second = _frame(), _frame().assign(size=lambda f: f["size"] + 100)
    for suffix in (".csv", ".parquet"):
        folder = tmp_path / f"in{suffix.replace('.', '-')}"
        folder.mkdir()
        for name, part in (("b-second", second[["label", "color", "size"]]), ("a-first", first)):  # order differs
            part.to_parquet(folder / f"{name}{suffix}", index=False) if suffix == ".parquet" else \
                part.to_csv(folder / f"{name}{suffix}", index=False)
        frame, stem, out = processing._read(folder)
        assert (stem, out, len(frame), list(frame.columns)) == (folder.name, suffix, 20, ["size", "color", "label"])
        assert frame["size"].iloc[:10].max() == 10 and frame["size"].iloc[10:].min() == 101  # a-first first
    pd.DataFrame({"size": [1.0], "colour": ["red"]}).to_csv(tmp_path / "in-csv" / "c-third.csv", index=False)
    with pytest.raises(SystemExit, match="files 'a-first.csv' and 'c-third.csv' have different columns "
                                         r"\('c-third.csv' without color, label; with colour\)"):
        processing._read(tmp_path / "in-csv")


def _push_folder(p: Platform, tmp_path: Path, name: str, files: dict[str, pd.DataFrame]) -> str:
    from slipway.data import pack_folder

    folder = tmp_path / name
    folder.mkdir()
    for fname, frame in files.items():
        if fname.endswith(".parquet"):
            frame.to_parquet(folder / fname, index=False)
        else:
            (folder / fname).write_text(frame.to_csv(index=False) if isinstance(frame, pd.DataFrame) else frame)
    packed = tmp_path / f"{name}.tar"
    with packed.open("wb") as f:
        pack_folder(folder, f)
    return p.datasets.push(name, packed, filename=name, kind="folder").version.ref


_FOLDER_CASES = [
    ({"a.csv": _frame(), "b.csv": _frame().drop(columns=["color"])}, {},
     "files 'a.csv' and 'b.csv' have different columns ('b.csv' without color)", "inputs"),
    ({"a.parquet": _frame(), "b.parquet": _frame().rename(columns={"size": "width"})}, {},
     "files 'a.parquet' and 'b.parquet' have different columns ('b.parquet' without size; with width)", "inputs"),
    ({"a.csv": _frame(), "notes.txt": "hello\n"}, {}, "file 'notes.txt' is not a table", "inputs"),
    ({"a.csv": _frame(), "b.parquet": _frame()}, {}, "files 'a.csv' and 'b.parquet' are of different formats",
     "inputs"),
    ({"a.csv": _frame(), "b.csv": _frame()}, {"columns": ["nope"]}, "'nope' is not a column of the input",
     "hyperparameters.columns"),  # the columns are the files' own
    ({"a.parquet": _frame(), "b.parquet": _frame()}, {"columns": ["color"]}, "'color' is not a numeric column",
     "hyperparameters.columns"),
]


def test_a_builtin_on_a_folder_checks_the_files_columns_at_submission(platform: Platform, tmp_path: Path) -> None:
    for i, (files, params, message, field) in enumerate(_FOLDER_CASES):  # one Platform for all cases
        ref = _push_folder(platform, tmp_path, f"parts-{i}", files)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument) as err:
            platform.training.create("bad", CreateJobRequest(builtin="scale", processing=True, inputs={"raw": ref},
                                                             outputs={"out": "o"}, hyperparameters=params))
        assert message in err.value.message and err.value.details["field"] == field, (i, err.value.message)
        assert ref in err.value.message or field != "inputs"


@pytest.mark.parametrize(("request_", "field"), [
    ({"builtin": "scale", "hyperparameters": {"columns": ["color"]}, "outputs": {"out": "o"}},
     "hyperparameters.columns"),  # not numeric
    ({"builtin": "impute", "hyperparameters": {"columns": "nope"}, "outputs": {"out": "o"}},
     "hyperparameters.columns"),
    ({"builtin": "split", "hyperparameters": {"label": "nope"}, "outputs": {"train": "a", "test": "b"}},
     "hyperparameters.label"),
    ({"builtin": "split", "processing": False, "outputs": {}}, "builtin"),
])
def test_a_bad_builtin_job_is_refused_at_submission(platform: Platform, raw: str, request_: dict[str, object],
                                                    field: str) -> None:
    body = {"processing": True, "inputs": {"raw": raw}} | request_
    with pytest.raises(InvalidArgument) as err:
        platform.training.create("bad", CreateJobRequest.model_validate(body))
    assert err.value.details["field"] == field


def _read(p: Platform, ref: str) -> pd.DataFrame:
    _, chunks = p.datasets.open_content(ref)
    return pd.read_csv(io.BytesIO(b"".join(chunks)))


def test_a_split_job_and_a_pipeline_scale_step_push_labelled_versions_with_lineage(platform: Platform, raw: str,
                                                                                 tmp_path: Path) -> None:
    p = platform
    view = p.training.create("split-1", CreateJobRequest(
        builtin="split", processing=True, inputs={"raw": raw}, outputs={"train": "raw-train", "test": "raw-test"},
        hyperparameters={"test": 0.25, "seed": 1}))
    assert view.kind == "processing" and view.algorithm == "split" and view.label == "label"
    run_jobs(p)
    job = p.training.get("split-1")
    assert job.status == "Completed", job.failure_reason
    assert job.outputs == {"train": "raw-train:1", "test": "raw-test:1"}
    train, test = p.datasets.get("raw-train:1"), p.datasets.get("raw-test:1")
    assert (train.rows, test.rows, train.label, test.label) == (30, 10, "label", "label")
    assert _read(p, "raw-test:1")["label"].value_counts().to_dict() == {"b": 6, "a": 4}
    with p.db.session() as s:
        edges = {(r.source_id, r.target_id, r.role) for r in s.execute(select(Reference)).scalars()}
    assert {("raw-test:1", "split-1", "output:test"), ("split-1", raw, "raw")} <= edges
    data, _, _ = p.training.read_logs("split-1")
    assert b"Built-in split: 40 rows" in data
    # The same built-in as a pipeline step (parameters checked at create, typed from the pipeline's).
    with pytest.raises(InvalidArgument) as err:
        p.pipelines.create("prep", Pipeline.model_validate({"steps": [
            {"name": "scale", "type": "process", "builtin": "scale", "parameters": {"method": "log"},
             "inputs": {"raw": "raw-train:1"}, "outputs": {"scaled": "raw-scaled"}}]}))
    assert err.value.details["field"] == "steps.scale.parameters.method"
    parts = _push_folder(p, tmp_path, "parts", {"a.csv": _frame(), "b.csv": _frame()})
    p.pipelines.create("prep", Pipeline.model_validate({
        "parameters": {"method": {"type": "string", "default": "minmax"}},
        # Impute reads a folder of two CSV files (one table, their rows one after the other).
        "steps": [{"name": "impute", "type": "process", "builtin": "impute", "inputs": {"raw": parts},
                   "outputs": {"filled": "raw-filled"}, "parameters": {"strategy": "median", "label": "label"}},
                  {"name": "scale", "type": "process", "builtin": "scale",
                   "parameters": {"method": "{{ params.method }}"},
                   "inputs": {"raw": "{{ steps.impute.outputs.filled }}"}, "outputs": {"scaled": "raw-scaled"}}]}),
        "tester")
    p.pipelines.start_run("prep", {}, "user:tester")
    deadline = time.monotonic() + 180
    while not p.pipelines.get_run("prep", 1).done:
        p.pipelines.advance_all()
        run_jobs(p)
        assert time.monotonic() < deadline, p.pipelines.get_run("prep", 1)
    run = p.pipelines.get_run("prep", 1)
    assert run.status == "Succeeded", run
    scaled = _read(p, "raw-scaled:1")
    assert scaled["size"].min() == 0 and scaled["size"].max() == 1 and scaled["size"].notna().all()
    assert len(scaled) == 20 and p.datasets.get("raw-filled:1").format == "csv"  # both files' rows, as CSV
    assert p.datasets.get("raw-scaled:1").label == "label"
