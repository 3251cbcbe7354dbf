"""The job side of the deep-learning built-ins (`image-classifier`, `sequence-classifier`).

Called by ``slipway.training.builtin`` inside the job process: reads the channels from the job
folder, trains with ``slipway.training.torch_train.train_builtin``, streams every epoch's metrics
with ``log_metric(..., step=epoch)`` (so logs, charts and tuning's pruner see them live) and records
the evaluation of the saved model as the final metrics, like the scikit-learn built-ins.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from slipway.training.contract import JobPaths
from slipway.training.metrics import log_metric

__all__ = ["train_deep"]


class DeepDataError(Exception):
    """Bad data or a missing extra: the message becomes the job's failure reason as is."""


def _say(message: str) -> None:
    print(message, flush=True)


def _threads() -> int:
    try:
        return max(1, int(os.environ.get("SM_NUM_CPUS", "1")))
    except ValueError:
        return 1


def train_deep(job: dict[str, Any], hps: dict[str, Any]) -> None:
    """Train ``job['algorithm']`` on the job's channels into SM_MODEL_DIR; raise DeepDataError for the user's fault."""
    from slipway.artifacts.flavors import require_extra
    from slipway.errors import InvalidArgument

    try:
        require_extra("pytorch", f"The {job['algorithm']} algorithm")
    except InvalidArgument as exc:
        raise DeepDataError(exc.message) from None
    t0 = time.perf_counter()
    import torch

    from slipway.training.torch_train import train_builtin

    torch.set_num_threads(_threads())
    _say(f"Imported torch {torch.__version__} in {time.perf_counter() - t0:.2f} s; {torch.get_num_threads()} "
         "threads")
    paths = JobPaths(os.environ["SLIPWAY_JOB_DIR"])
    channels = job["channels"]
    validation = paths.channel("validation") if "validation" in channels else None

    def on_epoch(epoch: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            log_metric(name, value, step=epoch)
        _say(f"epoch {epoch}: " + "  ".join(f"{k} = {v:.4f}" for k, v in metrics.items()))

    _say(f"Training {job['algorithm']} on {channels['train']['ref']}"
         + (f" (validation {channels['validation']['ref']})" if validation else ""))
    try:
        result = train_builtin(
            job["algorithm"], paths.channel("train"), Path(os.environ["SM_MODEL_DIR"]), hps,
            validation=validation, on_epoch=on_epoch, checkpoint_dir=paths.root / "checkpoints",
            lineage=job.get("lineage", {}),
        )
    except InvalidArgument as exc:
        raise DeepDataError(exc.message) from None
    for name, value in result.metrics.items():
        log_metric(name, value)  # no step: the evaluation of the saved (best) epoch is the final value
    _say(f"Trained on {result.device} in {result.seconds:.2f} s; best epoch {result.best_epoch}"
         + (" (stopped early)" if result.stopped_early else ""))
    for name in ("validation:accuracy", "validation:f1_macro", "validation:log_loss"):
        if name in result.metrics:
            _say(f"{name} = {result.metrics[name]:.6g}")
