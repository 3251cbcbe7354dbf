"""A fault of the job runner itself still ends with a result that says what went wrong."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from slipway.training.contract import JobPaths


def test_a_runner_fault_is_reported_as_the_jobs_failure(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path / "job")
    paths.make()
    paths.job_file.write_text("{not json")  # a job.json the runner cannot read
    run = subprocess.run([sys.executable, "-m", "slipway.training.runner", str(paths.root)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(paths.result.read_text())
    assert result["status"] == "Failed"
    assert result["failure_reason"].startswith("The job runner failed: JSONDecodeError: "), result
    assert "Traceback (most recent call last)" in run.stdout and "[slipway] Job failed: The job runner failed" \
        in run.stdout
