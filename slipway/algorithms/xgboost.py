"""XGBoost gradient-boosted trees with SageMaker's XGBoost hyperparameter names (needs the xgboost extra)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import floating, integer, is_classifier
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm, Hyperparameter


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
    hyperparameters=(
        integer("num_round", 100, 1, 100000, "Boosting rounds."),
        floating("eta", 0.3, 0, 1, "Step size shrinkage (learning rate).", low_open=True),
        integer("max_depth", 6, 0, 64, "Depth limit of each tree (0: no limit)."),
        floating("subsample", 1.0, 0, 1, "Fraction of rows sampled per tree.", low_open=True),
        floating("colsample_bytree", 1.0, 0, 1, "Fraction of columns sampled per tree.", low_open=True),
        floating("min_child_weight", 1.0, 0, None, "Smallest total weight (hessian) in a child."),
        floating("gamma", 0.0, 0, None, "Smallest loss reduction to split a leaf."),
        floating("alpha", 0.0, 0, None, "L1 penalty on weights."),
        floating("lambda", 1.0, 0, None, "L2 penalty on weights."),
        Hyperparameter("objective", "str", None, "e.g. binary:logistic, multi:softprob, reg:squarederror; "
                       "None: chosen from the problem type.", nullable=True),
        Hyperparameter("eval_metric", "str", None, "Validation metric per round (e.g. auc, logloss, rmse); None: "
                       "the objective's default.", nullable=True),
        integer("early_stopping_rounds", None, 1, None, "Stop when the validation metric has not improved for this "
                "many rounds (needs validation data); None: never.", nullable=True),
        integer("seed", 0, 0, 2**31 - 1, "Seed, so that a rerun gives the same model."),
    ),
    search_space={
        "eta": {"type": "float", "low": 0.01, "high": 0.5, "log": True},
        "max_depth": {"type": "int", "low": 2, "high": 10},
        "subsample": {"type": "float", "low": 0.5, "high": 1.0},
        "min_child_weight": {"type": "float", "low": 0.5, "high": 10.0, "log": True},
        "num_round": {"type": "int", "low": 20, "high": 500, "log": True},
    },
    build=_build,
)
