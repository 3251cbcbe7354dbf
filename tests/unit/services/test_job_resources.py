"""A job's CPUs and GPUs: stored with the job, shown, handed to the executor as its Resources."""

from __future__ import annotations

from pathlib import Path

from slipway.compute import Resources
from slipway.db.models import Job
from slipway.schemas.jobs import CreateJobRequest
from slipway.services import Platform
from slipway.services.training import job_resources


def test_cpus_and_gpus_are_kept_and_become_the_executors_resources(platform: Platform, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    platform.datasets.push("d", data, filename="d.csv", label="label")
    view = platform.training.create("asks", CreateJobRequest(algorithm="logistic-regression", inputs={"train": "d:1"},
                                                             cpus=2, gpus=0.5, memory_limit_mb=512))
    assert (view.cpus, view.gpus) == (2, 0.5)  # the local executor accepts any request: it runs jobs here
    plain = platform.training.create("plain", CreateJobRequest(algorithm="logistic-regression",
                                                               inputs={"train": "d:1"}))
    assert (plain.cpus, plain.gpus) == (None, None)
    with platform.db.session() as s:
        rows = {j.name: j for j in s.query(Job).all()}
        assert job_resources(rows["asks"]) == Resources(cpus=2, gpus=0.5, memory_mb=512)
        assert job_resources(rows["plain"]) == Resources()  # 1 CPU, no GPU, no memory limit


def test_asked_fills_the_defaults_of_a_request() -> None:
    assert Resources.asked() == Resources(cpus=1.0, gpus=0.0, memory_mb=None)
    assert Resources.asked(None, None, 0) == Resources()  # no memory limit, not a limit of 0
    assert Resources.asked(4, 1, 2048) == Resources(cpus=4, gpus=1, memory_mb=2048)
