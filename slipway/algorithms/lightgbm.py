"""LightGBM gradient-boosted trees, with the same hyperparameter names as the xgboost built-in."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boosting_hyperparameters, integer, is_classifier
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from slipway.algorithms._boosting import BoostedTrees

    params = {"learning_rate": hp["eta"], "max_depth": hp["max_depth"], "num_leaves": hp["num_leaves"],
              "bagging_fraction": hp["subsample"], "bagging_freq": 1 if hp["subsample"] < 1 else 0,
              "feature_fraction": hp["colsample_bytree"], "min_child_weight": hp["min_child_weight"],
              "min_data_in_leaf": hp["min_data_in_leaf"], "lambda_l1": hp["alpha"], "lambda_l2": hp["lambda"],
              "objective": hp["objective"], "metric": hp["eval_metric"], "seed": hp["seed"], "num_threads": 1}
    return BoostedTrees("lightgbm", is_classifier(problem), params, hp["num_round"], hp["early_stopping_rounds"])


ALGORITHM = Algorithm(
    name="lightgbm",
    description="LightGBM gradient-boosted trees (leaf-wise growth); per-round validation metrics.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=boosting_hyperparameters(
        eta=0.1, max_depth=integer("max_depth", -1, -1, 64, "Depth limit of each tree (-1: no limit)."),
        own=(integer("num_leaves", 31, 2, 131072, "Leaves per tree."),
             integer("min_data_in_leaf", 20, 1, None, "Fewest rows in a leaf.")),
        subsample="per round (bagging)", min_child_weight=(1e-3, "Smallest total hessian in a leaf."), l2=0.0,
        objectives="binary, multiclass, regression", metrics="auc, binary_logloss, l2"),
    search_space={
        "eta": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
        "num_leaves": {"type": "int", "low": 8, "high": 128, "log": True},
        "subsample": {"type": "float", "low": 0.5, "high": 1.0},
        "num_round": {"type": "int", "low": 20, "high": 500, "log": True},
    },
    build=_build,
)
