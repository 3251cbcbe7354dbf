"""The sandbox itself: a confined process reads and writes only what its policy names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slipway.sandbox import Sandbox, SandboxUnavailable, isolation

needs_landlock = pytest.mark.skipif(not isolation().isolated, reason="this kernel has no Landlock")

PROBE = r"""
import json, os, sys
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
home, job, other = sys.argv[1:4]
def write(path):
    with open(path, "w") as f:
        f.write("x")
print(json.dumps({
    "read_home": attempt(lambda: open(os.path.join(home, "credentials")).read()),
    "list_home": attempt(lambda: os.listdir(home)),
    "read_other": attempt(lambda: open(os.path.join(other, "f")).read()),
    "write_job": attempt(lambda: write(os.path.join(job, "out"))),
    "write_other": attempt(lambda: write(os.path.join(other, "g"))),
    "parent_environ": attempt(lambda: open(f"/proc/{os.getppid()}/environ").read()),
    "shadow": attempt(lambda: open("/etc/shadow").read()),
    "numpy": attempt(lambda: __import__("numpy").ones(3).sum()),
    "caps": [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith(("CapEff", "CapBnd"))],
}))
"""


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path, Path]:
    home, job, other = tmp_path / "home", tmp_path / "home" / "jobs" / "mine", tmp_path / "other"
    job.mkdir(parents=True)
    other.mkdir()
    (home / "credentials").write_text("the admin key")
    (other / "f").write_text("someone else's")
    return home, job, other


def run_probe(sandbox: Sandbox, home: Path, job: Path, other: Path) -> dict[str, object]:
    cmd = sandbox.wrap([sys.executable, "-c", PROBE, str(home), str(job), str(other)], write=[job])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@needs_landlock
def test_confined_process_reads_and_writes_only_its_own(layout: tuple[Path, Path, Path]) -> None:
    home, job, other = layout
    seen = run_probe(Sandbox(home=home), home, job, other)
    assert seen["read_home"] == "PermissionError"  # the credentials, though its own folder is inside the home
    assert seen["list_home"] == "PermissionError"
    assert seen["read_other"] == "PermissionError"
    assert seen["write_other"] == "PermissionError"
    assert seen["write_job"] == "ok"
    assert (job / "out").read_text() == "x"
    assert seen["parent_environ"] == "PermissionError"
    assert seen["shadow"] in ("PermissionError", "FileNotFoundError")
    assert seen["numpy"] == "ok"  # the Python environment stays usable


@needs_landlock
@pytest.mark.skipif(os.geteuid() != 0, reason="capabilities are dropped only when running as root")
def test_root_loses_every_capability(layout: tuple[Path, Path, Path]) -> None:
    home, job, other = layout
    seen = run_probe(Sandbox(home=home), home, job, other)
    assert seen["caps"] == ["0000000000000000", "0000000000000000"]


def test_off_runs_unconfined_and_says_so(layout: tuple[Path, Path, Path]) -> None:
    home, job, other = layout
    sandbox = Sandbox(home=home, mode="off")
    assert sandbox.wrap(["true"]) == ["true"]
    assert not sandbox.isolation.isolated and "not isolated" in sandbox.isolation.message
    seen = run_probe(sandbox, home, job, other)
    assert seen["read_home"] == "ok"


def test_required_sandbox_refuses_when_the_kernel_cannot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import slipway.sandbox as sb

    monkeypatch.setattr(sb, "_abi", lambda: 0)
    with pytest.raises(SandboxUnavailable, match="Landlock"):
        Sandbox(home=tmp_path, mode="landlock").wrap(["true"])
    assert Sandbox(home=tmp_path, mode="auto").wrap(["true"]) == ["true"]
    assert "not isolated" in sb.isolation("auto").message


def test_user_code_gets_an_allow_listed_environment() -> None:
    from slipway.sandbox import user_environment

    env = user_environment({"PATH": "/usr/bin", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "2",
                            "PIP_FIND_LINKS": "/opt/wheels", "PIP_INDEX_URL": "https://bob:hunter2@pypi.example/simple",
                            "AWS_SECRET_ACCESS_KEY": "s3cr3t", "SLIPWAY_API_KEY": "swk_x", "GITHUB_TOKEN": "ghp_x",
                            "DATABASE_URL": "postgresql://u:p@db/x"})
    assert {k: v for k, v in env.items() if k != "PYTHONPATH"} == {
        "PATH": "/usr/bin", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "2", "PIP_FIND_LINKS": "/opt/wheels"}


def test_the_users_home_on_sys_path_stays_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    user_home = tmp_path / "user"
    (user_home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.syspath_prepend(str(user_home))  # `python -m slipway.cli.main up` started from ~
    readable = Sandbox(home=tmp_path / "home").read_paths()
    assert str(user_home) not in readable and not [p for p in readable if p.startswith(str(user_home) + "/")]


def test_hidden_folders_stay_closed_like_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ray node's box: the server's home and Ray's session folder are closed even when on sys.path."""
    session = tmp_path / "ray" / "session_1" / "runtime_resources"
    session.mkdir(parents=True)
    monkeypatch.syspath_prepend(str(session))  # Ray puts a job's working_dir on its workers' sys.path
    readable = Sandbox(home=tmp_path / "jobs", hidden=(tmp_path / "ray",)).read_paths()
    assert not [p for p in readable if p.startswith(str(tmp_path))]
    assert str(session) in Sandbox(home=tmp_path / "jobs").read_paths()


def test_a_ray_nodes_box_follows_the_servers_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray executor's JobHost builds this box on the node: the server's home is closed there too, and
    setting 'landlock' on a node without Landlock refuses as the local executor does."""
    import slipway.sandbox as sb
    from slipway.compute.ray_executor import _node_sandbox

    box = _node_sandbox(tmp_path / "slipway-ray", {"mode": "auto", "home": str(tmp_path / "server-home")})
    assert box.home == tmp_path / "slipway-ray" and tmp_path / "server-home" in box.hidden
    assert _node_sandbox(tmp_path, None).mode == "off"
    monkeypatch.setattr(sb, "_abi", lambda: 0)
    with pytest.raises(SandboxUnavailable, match="'sandbox' setting is 'landlock'"):
        _ = _node_sandbox(tmp_path, {"mode": "landlock", "home": ""}).active
    assert "not isolated" in _node_sandbox(tmp_path, {"mode": "auto", "home": ""}).isolation.message
