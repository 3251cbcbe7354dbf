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


def test_a_split_job_and_a_pipeline_scale_step_push_labelled_versions_with_lineage(platform: Platform,
                                                                                 raw: str) -> None:
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
    p.pipelines.create("prep", Pipeline.model_validate({
        "parameters": {"method": {"type": "string", "default": "minmax"}},
        "steps": [{"name": "impute", "type": "process", "builtin": "impute", "inputs": {"raw": "raw-train:1"},
                   "outputs": {"filled": "raw-filled"}, "parameters": {"strategy": "median"}},
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
    assert p.datasets.get("raw-scaled:1").label == "label"
