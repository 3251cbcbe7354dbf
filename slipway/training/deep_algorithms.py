"""The built-in deep-learning algorithms as data: hyperparameters, search spaces, problem type.

Importing this module needs no torch, so `slipway algorithms list` works on the core
install; training imports `slipway.training.torch_train`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from slipway.training.hyperparameters import Hyperparameter, validate_hyperparameters

__all__ = ["DEEP_ALGORITHMS", "IMAGE_CLASSIFIER", "SEQUENCE_CLASSIFIER", "DeepAlgorithm"]

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "adam")
MONITORS = ("validation:loss", "validation:accuracy")


@dataclass(frozen=True)
class DeepAlgorithm:
    """A built-in network: what it accepts, its hyperparameters and its default search space."""

    name: str
    description: str
    problem_type: str
    input_kinds: tuple[str, ...]  # dataset formats it trains on
    hyperparameters: tuple[Hyperparameter, ...]
    search_space: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    framework: str = "pytorch"

    def validate(self, values: Mapping[str, Any] | None) -> dict[str, Any]:
        return validate_hyperparameters(self.hyperparameters, values, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "problem_type": self.problem_type,
            "framework": self.framework,
            "input_kinds": list(self.input_kinds),
            "hyperparameters": [p.to_dict() for p in self.hyperparameters],
            "search_space": {k: dict(v) for k, v in self.search_space.items()},
        }


def _common(epochs: int, batch_size: int, learning_rate: float, dropout: float) -> tuple[Hyperparameter, ...]:
    return (
        Hyperparameter("epochs", "int", epochs, "Passes over the training data.", 1, 1000),
        Hyperparameter("batch_size", "int", batch_size, "Examples per gradient step.", 1, 65536),
        Hyperparameter("learning_rate", "float", learning_rate, "Step size of the optimizer.", 0.0, 10.0, low_open=True),
        Hyperparameter("optimizer", "str", "adam", "Optimizer: 'adam', or 'sgd' with momentum 0.9.", choices=OPTIMIZERS),
        Hyperparameter("activation", "str", "relu", "Activation of the hidden layers.", choices=ACTIVATIONS),
        Hyperparameter("dropout", "float", dropout, "Dropout rate of the hidden layers.", 0.0, 1.0, high_open=True),
        Hyperparameter(
            "early_stopping_patience", "int", 3,
            "Epochs without improvement of the monitored metric before training stops; 0 never stops early.", 0, 1000,
        ),
        Hyperparameter("early_stopping_metric", "str", "validation:loss", "Metric watched for early stopping and the best epoch.",
              choices=MONITORS),
        Hyperparameter(
            "validation_split", "float", 0.2,
            "Share of the training data held out for validation when no validation channel is given.",
            0.0, 0.5, low_open=True,
        ),
        Hyperparameter("seed", "int", 0, "Seed of weight initialisation, shuffling and the validation split.", 0, 2**31 - 1),
    )


IMAGE_CLASSIFIER = DeepAlgorithm(
    name="image-classifier",
    description=(
        "A small convolutional network (two convolutions, max pooling, dropout, a dense layer, softmax), "
        "the shape of the classic Keras MNIST example, over image folders or npz arrays x/y."
    ),
    problem_type="multiclass_classification",
    input_kinds=("image-folder", "npz"),
    hyperparameters=_common(epochs=10, batch_size=64, learning_rate=1e-3, dropout=0.25)
    + (
        Hyperparameter("filters", "int", 32, "Filters of the first convolution; the second has twice as many.", 1, 1024),
        Hyperparameter("kernel_size", "int", 3, "Side of the square convolution kernels.", 1, 15),
        Hyperparameter("dense_units", "int", 128, "Units of the dense layer before the softmax.", 1, 8192),
        Hyperparameter("dense_dropout", "float", 0.5, "Dropout rate before the softmax layer.", 0.0, 1.0, high_open=True),
        Hyperparameter("image_size", "int", 0,
              "Side length images are resized to; 0 keeps the most common size of the training images.", 0, 1024),
    ),
    search_space={
        "learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
        "batch_size": {"type": "categorical", "choices": [32, 64, 128]},
        "filters": {"type": "categorical", "choices": [16, 32, 64]},
        "dense_units": {"type": "categorical", "choices": [64, 128, 256]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "dense_dropout": {"type": "float", "low": 0.0, "high": 0.6},
        "optimizer": {"type": "categorical", "choices": list(OPTIMIZERS)},
    },
)

SEQUENCE_CLASSIFIER = DeepAlgorithm(
    name="sequence-classifier",
    description=(
        "An embedding layer, an LSTM and a dense softmax layer over text folders (one subfolder per class); "
        "the tokenizer and vocabulary are built from the training data and saved with the model."
    ),
    problem_type="multiclass_classification",
    input_kinds=("text-folder",),
    hyperparameters=_common(epochs=15, batch_size=32, learning_rate=5e-3, dropout=0.2)
    + (
        Hyperparameter("embedding_dim", "int", 64, "Size of the word vectors.", 1, 4096),
        Hyperparameter("lstm_units", "int", 64, "Units of the LSTM layer.", 1, 4096),
        Hyperparameter("dense_units", "int", 0, "Units of a hidden dense layer after the LSTM; 0 for none.", 0, 8192),
        Hyperparameter("max_length", "int", 200, "Tokens kept per text; longer texts are truncated.", 1, 100000),
        Hyperparameter("max_vocab", "int", 20000, "Most frequent training tokens kept in the vocabulary.", 10, 10_000_000),
        Hyperparameter("min_count", "int", 1, "Occurrences a token needs in the training data to enter the vocabulary.",
              1, 1000),
    ),
    search_space={
        "learning_rate": {"type": "float", "low": 1e-4, "high": 2e-2, "log": True},
        "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
        "embedding_dim": {"type": "categorical", "choices": [32, 64, 128]},
        "lstm_units": {"type": "categorical", "choices": [32, 64, 128]},
        "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        "optimizer": {"type": "categorical", "choices": list(OPTIMIZERS)},
    },
)

DEEP_ALGORITHMS: dict[str, DeepAlgorithm] = {a.name: a for a in (IMAGE_CLASSIFIER, SEQUENCE_CLASSIFIER)}
