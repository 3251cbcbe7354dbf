"""The deep-learning built-ins (``slipway.training.deep_algorithms``) declared as registry algorithms.

They declare their hyperparameters with the same ``Hyperparameter`` as every other built-in, so
`algorithms list/show` and job creation validate them with the same messages; training happens in the job
process (``slipway.training.deep``), so ``build`` is never called for them.
"""

from __future__ import annotations

from typing import Any

from slipway.algorithms.base import CLASSIFICATION, Algorithm
from slipway.training.deep_algorithms import DEEP_ALGORITHMS

__all__ = ["METRICS", "deep_algorithm"]

# What slipway.training.deep reports: per epoch (torch_fit) and for the saved model (classification_metrics).
METRICS = tuple(f"validation:{m}" for m in ("accuracy", "loss", "precision_macro", "recall_macro", "f1_macro",
                                             "log_loss", "roc_auc")) + ("train:loss", "train:accuracy")

# dataset formats (slipway data push) each network trains on; "files" holds MNIST IDX or npz files
DATA_FORMATS = {"image-classifier": ("image-folder", "npz", "files"), "sequence-classifier": ("text-folder",)}


def _no_build(hps: dict[str, Any], problem: str) -> Any:
    raise TypeError("deep-learning built-ins are trained by slipway.training.deep, not built as estimators")


def deep_algorithm(name: str) -> Algorithm:
    spec = DEEP_ALGORITHMS[name]
    return Algorithm(
        name=spec.name,
        description=spec.description + " Needs the 'pytorch' extra.",
        problem_types=(CLASSIFICATION,),
        hyperparameters=spec.hyperparameters,
        build=_no_build,
        search_space={k: dict(v) for k, v in spec.search_space.items()},
        input_kinds=DATA_FORMATS[name],
        framework=spec.framework,
        metrics=METRICS,
        validation_always=True,
    )
