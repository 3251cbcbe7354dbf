"""The job contract inside the process: SageMaker's argument and variable rules, failure reasons, log_metric."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import slipway
from slipway.training.contract import JobPaths, build_env, hp_args, map_opt_ml, write_config
from slipway.training.runner import failure_reason, last_traceback


def test_hyperparameters_become_arguments_by_the_toolkit_rules() -> None:
    args = hp_args({"epochs": 10, "lr": 0.1, "b": True, "name": "x y", "opts": {"b": 2, "a": 1}, "none": None})
    assert args == ["-b", "True", "--epochs", "10", "--lr", "0.1", "--name", "x y", "--none", "None",
                    "--opts", "a=1,b=2"]


def test_opt_ml_paths_point_into_the_job_folder(tmp_path: Path) -> None:
    assert map_opt_ml("/opt/ml/model", tmp_path) == f"{tmp_path}/model"
    assert map_opt_ml("/opt/ml", tmp_path) == str(tmp_path)
    assert map_opt_ml("/opt/mlflow", tmp_path) == "/opt/mlflow"
    assert map_opt_ml(3, tmp_path) == 3


def test_environment_and_config_files(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path)
    paths.make()
    job = {"name": "j", "entry_point": "src/train.py", "framework": "sklearn",
           "channels": {"train": {"ref": "a:1", "format": "csv"}, "images": {"ref": "b:2", "format": "image-folder"}}}
    hps = {"epochs": 3, "lr": 0.5, "mode": "fast", "deep": True}
    env = build_env(paths, job, hps, {"PATH": "/bin"})
    assert env["SM_CHANNEL_TRAIN"] == str(tmp_path / "input" / "data" / "train")
    assert json.loads(env["SM_CHANNELS"]) == ["images", "train"]
    assert json.loads(env["SM_HPS"]) == hps
    assert (env["SM_HP_EPOCHS"], env["SM_HP_MODE"], env["SM_HP_DEEP"]) == ("3", "fast", "true")
    assert env["SM_MODULE_NAME"] == "src.train" and env["SM_USER_ENTRY_POINT"] == "src/train.py"
    assert env["SM_OUTPUT_DATA_DIR"] == str(tmp_path / "output" / "data") and env["PATH"] == "/bin"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["channel_input_dirs"]["images"].endswith("/input/data/images")
    assert training_env["job_name"] == "j" and training_env["hosts"] == ["algo-1"]
    write_config(paths, hps, job["channels"])
    assert json.loads((paths.config / "hyperparameters.json").read_text()) == {
        "epochs": "3", "lr": "0.5", "mode": "fast", "deep": "true"}
    config = json.loads((paths.config / "inputdataconfig.json").read_text())
    assert config["train"]["ContentType"] == "text/csv" and config["train"]["TrainingInputMode"] == "File"
    assert json.loads((paths.config / "resourceconfig.json").read_text())["current_host"] == "algo-1"


TRACEBACK = """epoch 1
Traceback (most recent call last):
  File "train.py", line 3, in <module>
    main()
  File "train.py", line 2, in main
    raise KeyError('price')
KeyError: 'price'
"""


def test_failure_reason_prefers_the_scripts_words(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path)
    paths.make()
    paths.logs.write_text("[slipway] Job j: running train.py\n" + TRACEBACK)
    assert last_traceback(TRACEBACK).endswith("KeyError: 'price'")
    assert failure_reason(paths, 1, None).startswith("Traceback") and "KeyError: 'price'" in failure_reason(paths, 1, None)
    paths.failure.write_text("No column 'price' in the input.\n")
    assert failure_reason(paths, 1, None) == "No column 'price' in the input."
    paths.failure.unlink()
    paths.logs.write_text(TRACEBACK.replace("KeyError: 'price'", "MemoryError"))
    assert failure_reason(paths, 1, 512).startswith("The job exceeded its memory limit of 512 MB")
    paths.logs.write_text("just words\n")
    assert "killed by signal SIGSEGV" in failure_reason(paths, -11, None)
    assert "just words" in failure_reason(paths, 2, None)


def test_a_missing_deep_learning_extra_is_named(tmp_path: Path) -> None:
    paths = JobPaths(tmp_path)
    paths.make()
    paths.logs.write_text(TRACEBACK.replace("KeyError: 'price'", "ModuleNotFoundError: No module named 'keras'"))
    reason = failure_reason(paths, 1, None)
    assert reason.startswith("The script imports keras, but the 'keras' extra is not installed where the job ran: "
                             "install it with `pip install 'slipway[keras]'`")
    assert reason.endswith("ModuleNotFoundError: No module named 'keras'")
    paths.logs.write_text(TRACEBACK.replace("KeyError: 'price'", "ModuleNotFoundError: No module named 'torch.nn'"))
    assert "the 'pytorch' extra is not installed" in failure_reason(paths, 1, None)
    paths.logs.write_text(TRACEBACK.replace("KeyError: 'price'", "ModuleNotFoundError: No module named 'kerastuner'"))
    reason = failure_reason(paths, 1, None)
    assert "extra" not in reason
    assert reason.startswith("The script imports kerastuner, which is not installed where the job ran: add its "
                             "package to requirements.txt in the source folder")
    paths.logs.write_text(TRACEBACK.replace("KeyError: 'price'", "ModuleNotFoundError: No module named 'xgboost'"))
    assert "`pip install 'slipway[xgboost]'`" in failure_reason(paths, 1, None)
    paths.logs.write_text(TRACEBACK.replace("KeyError: 'price'",
                                            "ModuleNotFoundError: No module named 'sagemaker_training'"))
    assert "add `sagemaker-training` to requirements.txt" in failure_reason(paths, 1, None)


def test_jobs_run_keras_on_pytorch_unless_told_otherwise(tmp_path: Path) -> None:
    job = {"name": "j", "channels": {}}
    assert build_env(JobPaths(tmp_path), job, {}, {})["KERAS_BACKEND"] == "torch"
    assert build_env(JobPaths(tmp_path), job, {}, {"KERAS_BACKEND": "jax"})["KERAS_BACKEND"] == "jax"


def test_log_metric_appends_json_lines_inside_a_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slipway.log_metric("loss", 0.5)  # outside a job: nothing happens, nothing fails
    target = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("SLIPWAY_METRICS_FILE", str(target))
    slipway.log_metric("loss", 0.5, step=1)
    slipway.log_metric("acc", 1)
    lines = [json.loads(x) for x in target.read_text().splitlines()]
    assert [(x["name"], x["value"], x["step"]) for x in lines] == [("loss", 0.5, 1), ("acc", 1.0, None)]
    for bad in (float("nan"), "high", None):
        with pytest.raises(ValueError, match="Expected"):
            slipway.log_metric("loss", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        slipway.log_metric("", 1.0)


def test_importing_slipway_in_a_job_stays_light() -> None:
    import subprocess
    import sys

    code = ("import sys, slipway, slipway.training.runner; slipway.log_metric; "
            "print(sorted(m for m in ('pandas', 'sklearn', 'numpy', 'sqlalchemy', 'httpx', 'fastapi') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
