"""Stand-ins for modules SageMaker's framework containers ship, so published scripts import them unmodified.

This folder (not the package) goes on the path of script jobs (``PYTHONPATH``, last) and of the replicas that
serve their models (``sys.path``, last):

- ``sagemaker_training.environment``: ``Environment`` read from ``SM_TRAINING_ENV`` (the toolkit's attributes:
  ``num_cpus``, ``num_gpus``, ``hosts``, ``current_host``, ``channel_input_dirs``, ``hyperparameters``…).
- ``sagemaker_containers``: ``training_env()`` (the same ``Environment``) and ``entry_point`` (one host, so
  there is no hostname to wait for).
- ``sagemaker_xgboost_container``: ``data_utils.get_dmatrix`` (a channel folder of libsvm or CSV files, label
  first, into a DMatrix) and ``distributed.rabit_run`` (runs the function on this one host).

Only what the published examples use is there. When the real package is installed (e.g. listed in
requirements.txt), it is imported instead: each stand-in hands over to it (``_slipway_shims.defer``).
Standard library only, apart from xgboost where its stand-in needs it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PATH", "PROVIDED"]

PATH = str(Path(__file__).resolve().parent)
# module -> what the stand-in offers (named in the hint when a script needs more of it)
PROVIDED = {
    "sagemaker_training": "sagemaker_training.environment.Environment",
    "sagemaker_containers": "sagemaker_containers.training_env() and sagemaker_containers.entry_point",
    "sagemaker_xgboost_container": "sagemaker_xgboost_container.data_utils.get_dmatrix and "
                                   "sagemaker_xgboost_container.distributed.rabit_run",
}
