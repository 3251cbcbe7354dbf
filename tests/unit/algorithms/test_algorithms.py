"""One conformance suite over every built-in algorithm, and the uniform hyperparameter messages."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from slipway.algorithms import ALGORITHMS, get_algorithm, list_algorithms, validate_hyperparameters
from slipway.algorithms.base import coerce_hyperparameter
from slipway.errors import InvalidArgument, NotFound
from slipway.training.builtin import Data, build_model
from slipway.training.evaluation import evaluate


def table(rows: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    return pd.DataFrame({
        "x": x, "z": rng.normal(size=rows), "colour": rng.choice(["red", "blue"], size=rows),
        "n": np.where(np.arange(rows) == 2, np.nan, rng.integers(0, 5, size=rows)),
    })


SKLEARN = [n for n in ALGORITHMS if get_algorithm(n).framework == "sklearn"]
DEEP = [n for n in ALGORITHMS if n not in SKLEARN]


@pytest.mark.parametrize("name", SKLEARN)
def test_every_algorithm_declares_valid_defaults_and_fits(name: str) -> None:
    algo = get_algorithm(name)
    hps = validate_hyperparameters(algo, {})
    assert hps == algo.defaults()
    assert set(algo.search_space) <= set(hps), "the search space names only real hyperparameters"
    assert algo.description and algo.problem_types
    if name == "kmeans":
        hps["n_clusters"] = 3
    for problem in algo.problem_types:
        if "text" in algo.input_kinds:
            texts = [f"{w} film {i}" for i, w in enumerate(["great", "awful"] * 10)]
            data = Data(pd.Series(texts), ["pos", "neg"] * 10, "text", [])
        else:
            X = table()
            y = (X["x"] > 0).map({True: "up", False: "down"}) if problem == "classification" else X["x"] * 2
            data = Data(X, y if algo.supervised else None, "tabular", [])
        full = "binary_classification" if problem == "classification" else problem
        model = build_model(algo, hps, full, data)
        with warnings.catch_warnings():  # a tiny table does not let every solver converge
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(data.X, data.y) if algo.supervised else model.fit(data.X)
        metrics, _ = evaluate(model, full, data.X, data.y)
        assert metrics, f"{name} ({problem}) produced no metrics"
        if problem == "classification":
            assert model.predict_proba(data.X).shape[1] == 2


def test_unknown_names_suggest_the_nearest() -> None:
    with pytest.raises(NotFound, match="Unknown algorithm 'randomforest'. Did you mean 'random-forest'"):
        get_algorithm("randomforest")
    with pytest.raises(InvalidArgument, match="has no hyperparameter 'n_estimator'. Did you mean 'n_estimators'"):
        validate_hyperparameters(get_algorithm("random-forest"), {"n_estimator": 3})
    assert len(list_algorithms()) == len(ALGORITHMS)


@pytest.mark.parametrize(("algo", "name", "value", "message"), [
    ("logistic-regression", "C", -1, "must be a float in the range (0, inf). Got -1 instead."),
    ("logistic-regression", "C", 0, "must be a float in the range (0, inf). Got 0 instead."),
    ("logistic-regression", "C", "abc", "must be a float in the range (0, inf). Got 'abc' instead."),
    ("logistic-regression", "C", True, "must be a float in the range (0, inf). Got True instead."),
    ("logistic-regression", "l1_ratio", 1.5, "must be a float in the range [0, 1]. Got 1.5 instead."),
    ("random-forest", "n_estimators", 2.5, "must be an int in the range [1, 10000]. Got 2.5 instead."),
    ("random-forest", "max_depth", 0, "must be an int in the range [1, inf) or None. Got 0 instead."),
    ("svm", "kernel", "cubic", "must be a str among {'linear', 'rbf', 'poly', 'sigmoid'}. Got 'cubic' instead."),
    ("logistic-regression", "fit_intercept", "maybe", "must be a bool. Got 'maybe' instead."),
    ("mlp", "hidden_layer_sizes", "64,,32", "must be a str of comma-separated positive ints. Got '64,,32' instead."),
    ("gradient-boosting", "learning_rate", "nan", "must be a float in the range (0, 1]. Got 'nan' instead."),
])
def test_bad_values_get_one_uniform_message(algo: str, name: str, value: object, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_hyperparameters(get_algorithm(algo), {name: value})
    assert info.value.message == f"The {name!r} hyperparameter of {algo} {message}"
    assert info.value.details["field"] == f"hyperparameters.{name}"


def test_strings_from_the_command_line_are_coerced() -> None:
    rf = get_algorithm("random-forest")
    hps = validate_hyperparameters(rf, {"n_estimators": "50", "max_depth": "none", "max_features": "log2"})
    assert (hps["n_estimators"], hps["max_depth"], hps["max_features"]) == (50, None, "log2")
    lr = get_algorithm("logistic-regression")
    assert coerce_hyperparameter(lr.name, lr.param("fit_intercept"), "false") is False
    assert coerce_hyperparameter(lr.name, lr.param("C"), 2) == 2.0


def test_the_deep_learning_built_ins_are_listed_with_their_hyperparameters() -> None:
    """The networks train in slipway.training.deep (tests/integration/test_deep_learning_jobs.py); here: the listing."""
    from slipway.training.deep_algorithms import DEEP_ALGORITHMS

    assert sorted(DEEP) == ["image-classifier", "sequence-classifier"]
    for name in DEEP:
        algo = get_algorithm(name)
        listed = algo.to_dict()
        assert listed["framework"] == "pytorch" and algo.problem_types == ("classification",)
        assert validate_hyperparameters(algo, {}) == DEEP_ALGORITHMS[name].validate({})
        assert set(algo.search_space) <= set(algo.defaults())
        epochs = next(h for h in listed["hyperparameters"] if h["name"] == "epochs")
        assert (epochs["type"], epochs["range"]) == ("int", "[1, 1000]")
    image = get_algorithm("image-classifier")
    assert validate_hyperparameters(image, {"epochs": "5", "batch_size": "64"})["epochs"] == 5
    with pytest.raises(InvalidArgument) as info:
        validate_hyperparameters(image, {"epochs": 0})
    assert info.value.message == ("The 'epochs' hyperparameter of image-classifier must be an int in the range "
                                  "[1, 1000]. Got 0 instead.")
    with pytest.raises(InvalidArgument, match=r"must be a float in the range \(0, 0.5\]. Got 0.9 instead"):
        validate_hyperparameters(image, {"validation_split": 0.9})
    with pytest.raises(InvalidArgument, match="must be a str among {'sgd', 'adam'}. Got 'rmsprop' instead"):
        validate_hyperparameters(get_algorithm("sequence-classifier"), {"optimizer": "rmsprop"})


@pytest.mark.parametrize("name, metric", [("xgboost", "validation:logloss"), ("lightgbm", "validation:binary_logloss")])
def test_boosters_stream_validation_metrics_per_round(name: str, metric: str, tmp_path, monkeypatch) -> None:
    import json

    pytest.importorskip(name)
    from slipway.training.builtin import fit_with_validation

    monkeypatch.setenv("SLIPWAY_METRICS_FILE", str(tmp_path / "metrics.jsonl"))
    algo = get_algorithm(name)
    hps = validate_hyperparameters(algo, {"num_round": 12, "early_stopping_rounds": 50})
    X = table(80)
    y = (X["x"] > 0).map({True: "up", False: "down"})
    train, valid = Data(X[:60], y[:60], "tabular", []), Data(X[60:], y[60:], "tabular", [])
    model = build_model(algo, hps, "binary_classification", train)
    fit_with_validation(model, train, valid)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in lines if r["name"] == metric]
    assert steps == list(range(1, 13)), lines[:3]
    assert set(model.predict(X[60:])) <= {"up", "down"} and model.predict_proba(X[60:]).shape == (20, 2)
