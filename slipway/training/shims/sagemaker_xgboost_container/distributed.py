"""sagemaker_xgboost_container.distributed: ``rabit_run`` on the one host a Slipway job has."""

from collections.abc import Callable
from typing import Any


def rabit_run(exec_fun: Callable[..., Any], args: dict, include_in_training: bool, hosts: list, current_host: str,
              first_port: Any = None, second_port: Any = None, max_connect_attempts: Any = None,
              connect_retry_timeout: int = 3, update_rabit_args: bool = False) -> Any:
    if len(hosts) > 1:
        raise RuntimeError(f"Distributed XGBoost training over {len(hosts)} hosts is not run by Slipway: a job "
                           "runs on one host (SM_HOSTS is [\"algo-1\"]).")
    if not include_in_training:
        return None
    if update_rabit_args:
        args = {**args, "is_master": True}
    return exec_fun(**args)
