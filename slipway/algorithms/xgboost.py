"""XGBoost gradient-boosted trees with SageMaker's XGBoost hyperparameter names (needs the xgboost extra)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boosting_hyperparameters, floating, integer, is_classifier
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from slipway.algorithms._boosting import BoostedTrees

    params = {"eta": hp["eta"], "max_depth": hp["max_depth"], "subsample": hp["subsample"],
              "colsample_bytree": hp["colsample_bytree"], "min_child_weight": hp["min_child_weight"],
              "gamma": hp["gamma"], "alpha": hp["alpha"], "lambda": hp["lambda"], "objective": hp["objective"],
              "eval_metric": hp["eval_metric"], "seed": hp["seed"], "nthread": 1}
    return BoostedTrees("xgboost", is_classifier(problem), params, hp["num_round"], hp["early_stopping_rounds"])


ALGORITHM = Algorithm(
    name="xgboost",
    description="XGBoost gradient-boosted trees, SageMaker's XGBoost hyperparameters; per-round validation metrics.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=boosting_hyperparameters(
        eta=0.3, max_depth=integer("max_depth", 6, 0, 64, "Depth limit of each tree (0: no limit)."),
        own=(floating("gamma", 0.0, 0, None, "Smallest loss reduction to split a leaf."),),
        subsample="per tree", min_child_weight=(1.0, "Smallest total weight (hessian) in a child."), l2=1.0,
        objectives="binary:logistic, multi:softprob, reg:squarederror", metrics="auc, logloss, rmse"),
    search_space={
        "eta": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
        "max_depth": {"type": "int", "low": 2, "high": 10},
        "subsample": {"type": "float", "low": 0.5, "high": 1.0},
        "min_child_weight": {"type": "float", "low": 0.5, "high": 10.0, "log": True},
        "num_round": {"type": "int", "low": 20, "high": 500, "log": True},
    },
    build=_build,
)
