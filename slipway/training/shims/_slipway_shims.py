"""What the stand-ins share: hand over to the real package when one is installed; the toolkit's Environment."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))


def defer(name: str) -> bool:
    """Load the installed package ``name`` in place of its stand-in (True), or say there is none (False)."""
    search = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
    spec = importlib.machinery.PathFinder.find_spec(name, search)
    if spec is None or spec.loader is None:
        return False
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the import statement returns what sys.modules holds when it ends
    spec.loader.exec_module(module)
    return True


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Environment:
    """sagemaker_training.environment.Environment, read from SM_TRAINING_ENV (set for every Slipway job).

    Every key of SM_TRAINING_ENV is an attribute (``num_cpus``, ``num_gpus``, ``hosts``, ``current_host``,
    ``model_dir``, ``channel_input_dirs``, ``hyperparameters``, ``module_dir``, ``user_entry_point``…).
    Outside a job (a replica importing the script) it describes this one host.
    """

    def __init__(self, resource_config: Any = None, input_data_config: Any = None, model_name: Any = None) -> None:
        env = json.loads(os.environ.get("SM_TRAINING_ENV") or "{}")
        defaults = {"current_host": "algo-1", "hosts": ["algo-1"], "num_cpus": _cpus(), "num_gpus": 0,
                    "num_neurons": 0, "hyperparameters": {}, "channel_input_dirs": {}, "is_master": True,
                    "master_hostname": "algo-1", "distribution_hosts": [], "additional_framework_parameters": {},
                    "model_dir": os.environ.get("SM_MODEL_DIR", "/opt/ml/model"), "log_level": 20}
        self._env = {**defaults, **env}
        self.__dict__.update(self._env)
        self.channel_dirs = self.channel_input_dirs
        self.user_args = json.loads(os.environ.get("SM_USER_ARGS") or "[]")

    def properties(self) -> list[str]:
        return sorted(self._env)

    def to_env_vars(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k.startswith("SM_")}

    def __getitem__(self, key: str) -> Any:
        return self._env[key]

    def __str__(self) -> str:
        return json.dumps(self._env, indent=2, sort_keys=True, default=str)
