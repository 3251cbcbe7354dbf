"""sagemaker_training.environment: ``Environment`` and the module-level paths, read from the job's SM_* variables."""

import json
import os

from _slipway_shims import Environment, _cpus

__all__ = ["Environment", "num_cpus", "num_gpus"]

base_dir = os.path.dirname(os.environ.get("SM_INPUT_DIR", "/opt/ml/input"))
model_dir = os.environ.get("SM_MODEL_DIR", os.path.join(base_dir, "model"))
code_dir = os.environ.get("SM_MODULE_DIR", os.path.join(base_dir, "code"))
input_dir = os.environ.get("SM_INPUT_DIR", os.path.join(base_dir, "input"))
input_config_dir = os.environ.get("SM_INPUT_CONFIG_DIR", os.path.join(input_dir, "config"))
output_dir = os.environ.get("SM_OUTPUT_DIR", os.path.join(base_dir, "output"))
output_data_dir = os.environ.get("SM_OUTPUT_DATA_DIR", os.path.join(output_dir, "data"))
output_intermediate_dir = os.environ.get("SM_OUTPUT_INTERMEDIATE_DIR", os.path.join(output_dir, "intermediate"))
data_dir = os.path.join(input_dir, "data")
hyperparameters_file_dir = os.path.join(input_config_dir, "hyperparameters.json")
current_host = os.environ.get("SM_CURRENT_HOST", "algo-1")


def num_cpus() -> int:
    return int(os.environ.get("SM_NUM_CPUS") or _cpus())


def num_gpus() -> int:
    return int(os.environ.get("SM_NUM_GPUS") or 0)


def read_hyperparameters() -> dict:
    return json.loads(os.environ.get("SM_HPS") or "{}")
