"""Processing jobs: SageMaker Processing's paths, outputs pushed as dataset versions with lineage."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from slipway.db.models import Reference
from slipway.errors import InvalidArgument
from slipway.schemas.jobs import CreateJobRequest
from slipway.services import Platform
from tests.support.job_driver import run_jobs, upload_source, write_csv

PREP = """\
import argparse, os, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--input")
p.add_argument("--min", type=int)
a = p.parse_args()
assert a.input != "/opt/ml/processing/input/raw", "the /opt/ml path was not mapped"
rows = (pathlib.Path(a.input) / "raw.csv").read_text().splitlines()
out = pathlib.Path(os.environ["SM_PROCESSING_OUTPUT_CLEAN"])
kept = [rows[0]] + [r for r in rows[1:] if int(r.split(",")[0]) >= a.min]
(out / "clean.csv").write_text("\\n".join(kept) + "\\n")
print("kept", len(kept) - 1, "rows")
"""


def test_a_processing_job_pushes_its_output_as_a_new_dataset_version(platform: Platform, tmp_path: Path) -> None:
    p = platform
    p.datasets.push("raw", write_csv(tmp_path / "raw.csv"), filename="raw.csv")
    sha = upload_source(p, {"prep.py": PREP})
    view = p.training.create("prep-1", CreateJobRequest(
        entry_point="prep.py", source_sha256=sha, processing=True, inputs={"raw": "raw:1"},
        outputs={"clean": "clean"}, arguments=["--input", "/opt/ml/processing/input/raw", "--min", "10"]))
    assert view.kind == "processing" and view.outputs == {"clean": "clean"}
    run_jobs(p)
    job = p.training.get("prep-1")
    assert job.status == "Completed", job.failure_reason
    assert job.outputs == {"clean": "clean:1"}
    out = p.datasets.get("clean:1")
    assert out.rows == 20 and out.format == "csv"
    with p.db.session() as s:
        edges = {(r.source_kind, r.source_id, r.target_kind, r.target_id, r.role)
                 for r in s.execute(select(Reference)).scalars()}
    assert ("dataset_version", "clean:1", "job", "prep-1", "output:clean") in edges
    assert ("job", "prep-1", "dataset_version", "raw:1", "raw") in edges
    data, _, _ = p.training.read_logs("prep-1")
    assert b"kept 20 rows" in data


def test_an_output_the_script_left_empty_fails_the_job_naming_it(platform: Platform, tmp_path: Path) -> None:
    p = platform
    sha = upload_source(p, {"noop.py": "print('nothing')\n"})
    p.training.create("prep-2", CreateJobRequest(entry_point="noop.py", source_sha256=sha, processing=True,
                                                 outputs={"clean": "clean"}))
    run_jobs(p)
    job = p.training.get("prep-2")
    assert job.status == "Failed"
    assert "wrote nothing to output 'clean'" in (job.failure_reason or "")


@pytest.mark.parametrize(("spec", "field"), [
    ({"algorithm": "logistic-regression", "processing": True, "inputs": {"train": "raw:1"}}, "algorithm"),
    ({"entry_point": "prep.py", "processing": True, "outputs": {"bad channel": "x"}}, "outputs"),
    ({"entry_point": "prep.py", "processing": True, "outputs": {"clean": "../x"}}, "outputs"),
    ({"entry_point": "prep.py", "outputs": {"clean": "x"}}, "outputs"),
])
def test_bad_processing_requests_are_refused(platform: Platform, tmp_path: Path, spec: dict[str, object],
                                             field: str) -> None:
    platform.datasets.push("raw", write_csv(tmp_path / "raw.csv"), filename="raw.csv")
    sha = upload_source(platform, {"prep.py": PREP})
    if "entry_point" in spec:
        spec = {**spec, "source_sha256": sha}
    with pytest.raises(InvalidArgument) as err:
        platform.training.create("bad", CreateJobRequest.model_validate(spec))
    assert err.value.details["field"] == field
