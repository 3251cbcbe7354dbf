"""Hyperparameters of the built-in networks: defaults, coercion, and one message shape for every error."""

from __future__ import annotations

import pytest

from slipway.errors import InvalidArgument
from slipway.training.deep_algorithms import DEEP_ALGORITHMS, IMAGE_CLASSIFIER, SEQUENCE_CLASSIFIER


def test_epochs_zero_names_the_range() -> None:
    with pytest.raises(InvalidArgument) as info:
        IMAGE_CLASSIFIER.validate({"epochs": 0})
    assert info.value.message == (
        "The 'epochs' hyperparameter of image-classifier must be an int in the range [1, 1000]. Got 0 instead."
    )
    assert info.value.details["field"] == "hyperparameters.epochs"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("optimizer", "rmsprop", "must be a str among {'sgd', 'adam'}. Got 'rmsprop' instead."),
        ("activation", "gelu", "must be a str among {'relu', 'leaky_relu', 'tanh', 'sigmoid'}. Got 'gelu' instead."),
        ("dropout", 1.0, "must be a float in the range [0, 1). Got 1.0 instead."),
        ("learning_rate", 0, "must be a float in the range (0, 10]. Got 0 instead."),
        ("batch_size", "big", "must be an int in the range [1, 65536]. Got 'big' instead."),
        ("epochs", True, "must be an int in the range [1, 1000]. Got True instead."),
        ("epochs", 2.5, "must be an int in the range [1, 1000]. Got 2.5 instead."),
        ("validation_split", 0.9, "must be a float in the range (0, 0.5]. Got 0.9 instead."),
    ],
)
def test_bad_values_get_uniform_messages(name: str, value: object, expected: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        IMAGE_CLASSIFIER.validate({name: value})
    assert info.value.message == f"The '{name}' hyperparameter of image-classifier {expected}"


def test_unknown_name_suggests_the_nearest() -> None:
    with pytest.raises(InvalidArgument, match="sequence-classifier has no hyperparameter 'epoch'. Did you mean 'epochs'"):
        SEQUENCE_CLASSIFIER.validate({"epoch": 3})


def test_the_networks_and_the_other_built_ins_share_one_validator() -> None:
    from slipway.algorithms import get_algorithm
    from slipway.algorithms.base import Hyperparameter
    from slipway.training import hyperparameters

    assert all(isinstance(p, Hyperparameter) for p in IMAGE_CLASSIFIER.hyperparameters)
    assert get_algorithm("image-classifier").hyperparameters is IMAGE_CLASSIFIER.hyperparameters
    assert not hasattr(hyperparameters, "Param")
    for algo in ("image-classifier", "random-forest"):  # a whole number written as a float, and the same refusal
        with pytest.raises(InvalidArgument, match=f"of {algo} must be an int in the range .* Got '2.5' instead"):
            hyperparameters.validate_hyperparameters(get_algorithm(algo).hyperparameters,
                                                     {"epochs" if algo == "image-classifier" else "n_estimators":
                                                      "2.5"}, algo)


def test_strings_from_the_command_line_are_coerced_and_defaults_filled() -> None:
    hp = IMAGE_CLASSIFIER.validate({"epochs": "5", "learning_rate": "0.01", "optimizer": " sgd", "batch_size": "64.0"})
    assert (hp["epochs"], hp["learning_rate"], hp["optimizer"], hp["batch_size"]) == (5, 0.01, "sgd", 64)
    assert hp["filters"] == 32 and hp["activation"] == "relu"


@pytest.mark.parametrize("algorithm", sorted(DEEP_ALGORITHMS))
def test_defaults_are_valid_and_the_search_space_stays_in_range(algorithm: str) -> None:
    spec = DEEP_ALGORITHMS[algorithm]
    defaults = spec.validate({})
    assert defaults == {p.name: p.default for p in spec.hyperparameters}
    for name, dim in spec.search_space.items():
        values = dim["choices"] if dim["type"] == "categorical" else [dim["low"], dim["high"]]
        for value in values:
            spec.validate({name: value})  # raises when the space leaves the declared range
    described = spec.to_dict()
    assert described["framework"] == "pytorch"
    assert {p["name"] for p in described["hyperparameters"]} >= {
        "epochs", "batch_size", "learning_rate", "optimizer", "dropout", "activation",
        "early_stopping_patience", "validation_split", "seed",
    }


def test_every_hyperparameter_is_documented() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "deep-learning.md").read_text()
    missing = [f"{a}.{p.name}" for a, spec in DEEP_ALGORITHMS.items() for p in spec.hyperparameters
               if f"| `{p.name}` | {p.type} | `{p.default}` |" not in text]
    assert missing == []
