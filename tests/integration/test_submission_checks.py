"""Mistakes in a training or tuning request are refused when it is submitted, at the CLI and over REST,
with one line that names the field, the value and what was expected; Ctrl-C while waiting says what goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.servers import SlipwayServer
from tests.support.waiting import wait_for

TUNE = ["tune", "--algorithm", "logistic-regression", "--data", "train=vc:1", "--max-trials", "2", "--no-wait"]


def _push(cli, make_csv) -> None:  # type: ignore[no-untyped-def]
    r = cli("data", "push", "vc", str(make_csv(rows=40)), "--label", "label")
    assert r.returncode == 0, r.stderr


def _refused(r: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for f in fragments:
        assert f in r.stderr, (f, r.stderr)


def test_cli_refuses_bad_requests_before_anything_runs(cli, make_csv) -> None:  # type: ignore[no-untyped-def]
    _push(cli, make_csv)
    # A typo in the objective: "did you mean", before any trial ran.
    _refused(cli(*TUNE, "--validation-split", "0.2", "--objective", "validation:acuracy", "--name", "t1"),
             "'validation:acuracy' is not a metric that logistic-regression reports",
             "Did you mean 'validation:accuracy'?")
    # A validation metric without validation data.
    _refused(cli(*TUNE, "--objective", "validation:accuracy", "--name", "t2"),
             "measured on validation data, but the job has none", "--validation-split 0.2")
    # A float range on an integer hyperparameter that cannot be whole numbers; a bound outside what it accepts.
    rf = ["tune", "--algorithm", "random-forest", "--data", "train=vc:1", "--objective", "train:accuracy",
          "--max-trials", "2", "--no-wait"]
    _refused(cli(*rf, "--range", "n_estimators=20.5:50", "--name", "t3"),
             "non-integer bounds", "'n_estimators' of random-forest is an int in the range [1, 10000]")
    _refused(cli(*rf, "--range", "min_samples_leaf=0:5", "--name", "t4"), "includes 0.0, outside")
    _refused(cli(*rf, "--range", "max_features=1:3", "--name", "t5"), "is numeric, but 'max_features'",
             "max_features=sqrt,log2,all")
    # A training job with a split and a validation channel at once, or a split that leaves nothing to validate.
    train = ["train", "--algorithm", "logistic-regression", "--data", "train=vc:1", "--no-wait"]
    _refused(cli(*train, "--data", "validation=vc:1", "--validation-split", "0.2"),
             "Both validation_split (0.2) and a 'validation' channel (vc:1) were given")
    _refused(cli(*train, "--validation-split", "0.99"), "leaves 0 rows to train on and 40 to validate")
    # Pydantic's own checks: one line, not a traceback, for train and for tune.
    _refused(cli("train", "--algorithm", "logistic-regression", "--data", "train=vc:1", "--validation-split", "1.5"),
             "Field 'validation_split' has value 1.5: Input should be less than 1.")
    _refused(cli(*TUNE, "--objective", "train:accuracy", "--max-trials", "0", "--name", "t6"),
             "Field 'max_trials' has value 0: Input should be greater than or equal to 1.")
    assert cli("tuning", "list", "-o", "json").stdout.strip() == "[]"
    assert cli("jobs", "list", "-o", "json").stdout.strip() == "[]"


def test_cli_accepts_a_whole_number_range_on_an_int_hyperparameter(cli, make_csv) -> None:  # type: ignore[no-untyped-def]
    _push(cli, make_csv)
    r = cli("tune", "--algorithm", "random-forest", "--data", "train=vc:1", "--objective", "train:accuracy",
            "--range", "n_estimators=20:50", "--max-trials", "1", "--name", "t7", "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert '"n_estimators": "20:50:int"' in r.stdout
    cli("tuning", "stop", "t7")


def test_rest_refuses_the_same_requests(server: SlipwayServer, cli, make_csv) -> None:  # type: ignore[no-untyped-def]
    _push(cli, make_csv)
    with server.http() as h:

        def tune(name: str, objective: str, ranges: list[str], **job: object) -> dict:  # type: ignore[type-arg]
            body = {"job": {"algorithm": "random-forest", "inputs": {"train": "vc:1"}, **job},
                    "objective": objective, "ranges": ranges, "max_trials": 2}
            r = h.post(f"/api/v1/tuning-jobs/{name}", json=body)
            assert r.status_code == 400, r.text
            return r.json()["error"]  # type: ignore[no-any-return]

        err = tune("r1", "validation:f1_score", [], validation_split=0.2)
        assert "Did you mean 'validation:f1'?" in err["message"] and err["details"]["field"] == "objective"
        err = tune("r2", "validation:roc_auc", [])
        assert "validation data, but the job has none" in err["message"]
        err = tune("r3", "train:accuracy", ["n_estimators=20.5:50"])
        assert "non-integer bounds" in err["message"] and err["details"]["field"] == "range"
        err = tune("r4", "train:accuracy", [], validation_split=1.5)
        assert err["message"] == ("Field 'job.validation_split' has value 1.5: Input should be less than 1.")
        r = h.post("/api/v1/jobs/j1", json={"algorithm": "random-forest", "inputs": {"train": "vc:1",
                                                                                    "validation": "vc:1"},
                                            "validation_split": 0.3})
        assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "validation_split"
        assert h.get("/api/v1/tuning-jobs").json()["total"] == 0
        assert h.get("/api/v1/jobs").json()["total"] == 0


def test_ctrl_c_during_tune_wait_says_the_tuning_job_keeps_running(server: SlipwayServer, cli,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    script = tmp_path / "slow.py"
    script.write_text("import time, slipway\nfor i in range(600):\n    time.sleep(0.1)\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "slipway.cli.main", "tune", "--script", str(script), "--objective", "score",
         "--range", "x=0:1", "--max-trials", "1", "--name", "slow", "--wait"],
        env=server.cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_from_a_terminal)
    try:
        wait_for(lambda: '"status": "InProgress"' in cli("tuning", "show", "slow", "-o", "json").stdout, timeout=60)
        signals = _signal_masks(proc.pid)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the CLI did not end on Ctrl-C; its signal masks then: {signals}, the test's: "
                                 f"{_signal_masks(os.getpid())}; its stack:\n{_stack(proc.pid)}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    assert "Interrupted: tuning job slow keeps running on the server" in err
    assert "slipway tuning stop slow" in err
    assert cli("tuning", "stop", "slow").returncode == 0


def _as_from_a_terminal() -> None:
    """In the CLI's child, before exec: SIGINT as a shell leaves it (default action, not blocked), whatever this
    test process inherited; Python installs its KeyboardInterrupt handler only over the default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _signal_masks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as f:
            return " ".join(line.strip() for line in f if line.startswith(("SigBlk", "SigIgn", "SigCgt")))
    except OSError as exc:
        return str(exc)


def _stack(pid: int) -> str:
    """Where the CLI is stuck, when py-spy is installed (it is on the development machine, not a dependency)."""
    import shutil

    if not shutil.which("py-spy"):
        return "(py-spy is not installed)"
    return subprocess.run(["py-spy", "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=30).stdout
