"""Slipway's stand-ins for the modules SageMaker's containers ship, run as a job's process runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slipway.training.contract import JobPaths, build_env
from slipway.training.runner import _missing_module_hint


def job_python(tmp_path: Path, code: str, after: list[str] | None = None) -> str:
    """Run ``code`` with a job's environment (SM_* variables, PYTHONPATH with the stand-ins last)."""
    paths = JobPaths(tmp_path / "job")
    paths.make()
    job = {"name": "j", "entry_point": "train.py", "framework": "xgboost",
           "channels": {"train": {"ref": "a:1", "format": "csv"}}}
    env = build_env(paths, job, {"num_round": 5, "max_depth": 2}, {"PATH": os.environ.get("PATH", "")})
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *(after or [])])
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sagemaker_training_environment_reads_the_jobs_variables(tmp_path: Path) -> None:
    out = job_python(tmp_path, "import json\nfrom sagemaker_training import environment\n"
                     "env = environment.Environment()\n"
                     "print(json.dumps([env.num_cpus, env.hosts, env.current_host, env.hyperparameters,"
                     " sorted(env.channel_input_dirs), env.model_dir, environment.num_gpus()]))\n"
                     "import sagemaker_containers\nprint(sagemaker_containers.training_env().module_name)")
    first, second = out.splitlines()
    num_cpus, hosts, host, hps, channels, model_dir, gpus = json.loads(first)
    assert num_cpus >= 1 and hosts == ["algo-1"] and host == "algo-1" and gpus >= 0
    assert hps == {"num_round": 5, "max_depth": 2} and channels == ["train"]
    assert model_dir == str(tmp_path / "job" / "model") and second == "train"


def test_get_dmatrix_reads_a_channel_of_libsvm_or_csv_and_rabit_runs_on_one_host(tmp_path: Path) -> None:
    pytest.importorskip("xgboost")
    data = tmp_path / "data"
    (data / "libsvm").mkdir(parents=True)
    (data / "libsvm" / "a.libsvm").write_text("1 1:0.5 3:2\n0 2:1.5\n")
    (data / "libsvm" / "b.libsvm").write_text("1 1:0.1 2:0.2 3:0.3")  # no final newline
    (data / "csv").mkdir()
    (data / "csv" / "train.csv").write_text("1,0.5,0.25\n0,1.5,2.5\n")
    out = job_python(tmp_path, f"""
import json
from sagemaker_containers import entry_point
from sagemaker_xgboost_container import distributed
from sagemaker_xgboost_container.data_utils import get_dmatrix
entry_point._wait_hostname_resolution()
svm = get_dmatrix({str(data / "libsvm")!r}, "libsvm")
csv = get_dmatrix({str(data / "csv")!r}, "text/csv")
seen = distributed.rabit_run(exec_fun=lambda **kw: sorted(kw), args={{"x": 1}}, include_in_training=True,
                             hosts=["algo-1"], current_host="algo-1", update_rabit_args=True)
try:
    distributed.rabit_run(lambda **kw: None, {{}}, True, ["algo-1", "algo-2"], "algo-1")
    refused = ""
except RuntimeError as exc:
    refused = str(exc)
print(json.dumps([svm.num_row(), svm.num_col(), svm.get_label().tolist(), csv.num_row(), csv.num_col(),
                  csv.get_label().tolist(), get_dmatrix(None, "libsvm") is None, seen, refused]))
""")
    svm_rows, svm_cols, svm_labels, csv_rows, csv_cols, csv_labels, none, seen, refused = json.loads(out)
    assert (svm_rows, svm_cols, svm_labels) == (3, 4, [1.0, 0.0, 1.0])
    assert (csv_rows, csv_cols) == (2, 2) and np.allclose(csv_labels, [1, 0])
    assert none is True and seen == ["is_master", "x"]
    assert "not run by Slipway: a job runs on one host" in refused


def test_an_installed_package_replaces_its_stand_in(tmp_path: Path) -> None:
    real = tmp_path / "site" / "sagemaker_training"
    real.mkdir(parents=True)
    (real / "__init__.py").write_text("REAL = True\n")
    (real / "environment.py").write_text("WHICH = 'real'\n")
    code = ("import sagemaker_training\nfrom sagemaker_training import environment\n"
            "print(getattr(sagemaker_training, 'REAL', False), getattr(environment, 'WHICH', 'stand-in'))")
    assert job_python(tmp_path, code).split() == ["False", "stand-in"]
    # Installed, it comes after the stand-ins on the path, as site-packages comes after PYTHONPATH: it wins.
    assert job_python(tmp_path, code, after=[str(real.parent)]).split() == ["True", "real"]


def test_a_module_the_stand_in_lacks_is_named_with_the_fix() -> None:
    hint = _missing_module_hint("sagemaker_containers.beta.framework")
    assert "Slipway's stand-in for sagemaker_containers does not have" in hint
    assert "add `sagemaker-containers` to requirements.txt" in hint
