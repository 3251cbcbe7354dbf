"""Multi-layer perceptron (a small fully connected neural network), for classification or regression."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boolean, choice, floating, integer, is_classifier, random_state
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm, Hyperparameter


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if is_classifier(problem) else MLPRegressor
    layers = tuple(int(n) for n in hp["hidden_layer_sizes"].split(","))
    return cls(hidden_layer_sizes=layers, activation=hp["activation"], alpha=hp["alpha"],
               learning_rate_init=hp["learning_rate_init"], max_iter=hp["max_iter"],
               early_stopping=hp["early_stopping"], random_state=hp["random_state"])


ALGORITHM = Algorithm(
    name="mlp",
    description="Fully connected neural network trained with Adam.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=(
        Hyperparameter("hidden_layer_sizes", "str", "100", "Units per hidden layer, e.g. '64,32'.",
                       pattern=r"[1-9][0-9]*(,[1-9][0-9]*)*", pattern_text="comma-separated positive ints"),
        choice("activation", "relu", ("relu", "tanh", "logistic"), "Activation of the hidden units."),
        floating("alpha", 1e-4, 0, None, "L2 penalty."),
        floating("learning_rate_init", 1e-3, 0, 1, "Initial step size of Adam.", low_open=True),
        integer("max_iter", 200, 1, None, "Epochs."),
        boolean("early_stopping", False, "Hold out 10% of the training rows and stop when they stop improving."),
        random_state(),
    ),
    search_space={
        "hidden_layer_sizes": {"type": "categorical", "choices": ["32", "64", "128", "64,32", "128,64"]},
        "alpha": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
        "learning_rate_init": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    },
    build=_build,
)
