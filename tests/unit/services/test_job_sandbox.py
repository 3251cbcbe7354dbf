"""Setting sandbox = "landlock" on a host without Landlock: user code never starts unconfined."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from slipway.sandbox import SandboxUnavailable
from slipway.schemas.jobs import CreateJobRequest
from slipway.services import Platform
from slipway.settings import Settings


@pytest.fixture
def no_landlock_platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    import slipway.sandbox as sb

    monkeypatch.setattr(sb, "_abi", lambda: 0)  # the kernel's answer on a host without Landlock
    p = Platform(Settings.load(env={}, home=tmp_path / "home", sandbox="landlock"))
    p.migrate()
    yield p
    p.close()


def test_a_job_fails_with_the_reason_instead_of_running_unconfined(no_landlock_platform: Platform,
                                                                     tmp_path: Path) -> None:
    p = no_landlock_platform
    data = tmp_path / "d.csv"
    data.write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    p.datasets.push("d", data, filename="d.csv", label="label")
    p.training.create("j", CreateJobRequest(algorithm="logistic-regression", inputs={"train": "d:1"}))
    assert p.job_runs.claim(1) == ["j"]
    p.job_runs.launch("j")
    job = p.training.get("j")
    assert job.status == "Failed"
    assert "The 'sandbox' setting is 'landlock', and this kernel has no Landlock" in (job.failure_reason or "")
    assert p.job_runs.active() == []  # nothing was started
    status = p.describe()["sandbox"]
    assert status == {"isolated": False, "mechanism": "", "message": status["message"]}  # type: ignore[index]
    assert "none will run" in status["message"]  # type: ignore[index]


def test_a_replica_is_refused_too(no_landlock_platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="not started unconfined"):
        no_landlock_platform.serving.spawn("e", "v", "m:1", tmp_path)
    assert not list((no_landlock_platform.settings.home / "serving").glob("logs/*"))
