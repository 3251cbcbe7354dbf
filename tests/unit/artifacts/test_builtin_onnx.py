"""Every built-in algorithm's model, as `slipway train` fits it (preprocessing Pipeline over named columns),
gets a verified ONNX export, or a reason that names why not.

The pipeline is fitted on a tiny table with a missing value and an integer column; the export is verified
(within 1e-5 of the framework's own predictions on the training rows) and then serves the same answers.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from slipway.algorithms import ALGORITHMS, CLASSIFICATION, get_algorithm, validate_hyperparameters
from slipway.artifacts import Manifest
from slipway.artifacts.loading import export_onnx, load_predictor

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

FAST = {"n_estimators": 5, "num_round": 5, "max_iter": 20}  # tiny models: the test is about conversion
SERVED = ("classification", "regression")


def _cases() -> list[tuple[str, str]]:
    out = []
    for name in ALGORITHMS:
        algo = get_algorithm(name)
        if algo.framework != "sklearn":
            continue  # the deep built-ins export through their own flavor (tests/unit/artifacts/test_torch_onnx.py)
        out += [(name, problem) for problem in algo.problem_types]
    return out


def _table() -> tuple[Any, Any, Any]:
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({"mean_radius": rng.normal(14, 3, n), "count": rng.integers(0, 5, n),
                       "mean_area": rng.normal(650, 300, n)})
    df.loc[3, "mean_area"] = np.nan  # imputed by the pipeline
    labels = pd.Series(np.where(df["mean_radius"] + rng.normal(0, 1, n) > 14, "malignant", "benign"))
    values = df["mean_radius"] * 2 + rng.normal(size=n)
    return df, labels, values


def _fit(name: str, problem: str, folder: Path) -> Any:
    from slipway.artifacts.flavors.sklearn import save
    from slipway.training.builtin import Data, _dtype, build_model

    algo = get_algorithm(name)
    hps = validate_hyperparameters(algo, {k: v for k, v in FAST.items() if algo.param(k)})
    df, labels, values = _table()
    if "text" in algo.input_kinds:
        texts = [f"{'great fine' if v == 'benign' else 'awful broken'} item {i}" for i, v in enumerate(labels)]
        model = build_model(algo, hps, "binary_classification", Data(texts, list(labels), "text", []))
        model.fit(texts, list(labels))
        save(model, folder, problem_type="binary_classification", labels=[str(c) for c in model.classes_],
             input_kind="text", inputs=[], samples=texts)
        return model
    full = {CLASSIFICATION: "binary_classification"}.get(problem, problem)
    y = labels if problem == CLASSIFICATION else values
    inputs = [{"name": c, "dtype": _dtype(df[c])} for c in df.columns]
    model = build_model(algo, hps, full, Data(df, y, "tabular", inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(df, y) if algo.supervised else model.fit(df)
    final = model[-1]
    labels_ = [str(c) for c in getattr(final, "classes_", [])] or None
    save(model, folder, problem_type=full, labels=labels_, input_kind="tabular", inputs=inputs, samples=df)
    return model


@pytest.mark.parametrize(("name", "problem"), _cases())
def test_builtin_model_exports_and_verifies(name: str, problem: str, tmp_path: Path) -> None:
    model = _fit(name, problem, tmp_path)
    manifest = Manifest.read(tmp_path)
    info = export_onnx(tmp_path, manifest)
    if problem not in SERVED:
        # Not on the fast path: the reason says why, for `slipway models show`.
        assert not info["verified"] and info["reason"], info
        return
    assert info["verified"], info
    assert info["max_abs_diff"] <= 1e-5 and info["rows"] == 60
    manifest.replace(onnx=info).write(tmp_path)
    fast = load_predictor(tmp_path)
    assert fast.runtime == "onnxruntime"
    if "text" in get_algorithm(name).input_kinds:
        texts = ["great fine item", "awful broken thing", "an unseen word"]
        got = fast.predict(texts)
        want = model.predict_proba(texts)
        probs = np.array([[p["probabilities"][str(c)] for c in model.classes_] for p in got])
        np.testing.assert_allclose(probs, want, atol=1e-5)
        return
    df, _, _ = _table()
    rows = df.to_numpy(dtype=np.float64)
    got = fast.predict_rows(rows)
    if problem == CLASSIFICATION:
        want = model.predict_proba(df)
        assert [p["label"] for p in got] == [str(model.classes_[i]) for i in want.argmax(axis=1)]
        probs = np.array([[p["probabilities"][str(c)] for c in model.classes_] for p in got])
        np.testing.assert_allclose(probs, want, atol=1e-5)
    else:
        values = np.array([p["value"] if isinstance(p, dict) else p for p in got], dtype=np.float64)
        np.testing.assert_allclose(values, model.predict(df), atol=1e-5)


def _mixed() -> tuple[Any, Any, list[dict[str, str]]]:
    import pandas as pd

    from slipway.training.builtin import _dtype

    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame({"mean radius": rng.normal(size=n), "colour": rng.choice(["red", "green", "blue"], n),
                       "count": rng.integers(0, 3, n)})
    df.loc[2, "mean radius"] = np.nan
    df.loc[4, "colour"] = None  # imputed with the most frequent colour, then one-hot encoded
    y = pd.Series(np.where(df["mean radius"].fillna(0) + (df["colour"] == "red") > 0.3, "yes", "no"))
    return df, y, [{"name": c, "dtype": _dtype(df[c])} for c in df.columns]


@pytest.mark.parametrize("name", ["logistic-regression", "random-forest", "xgboost"])
def test_a_table_with_string_columns_exports_one_input_per_column(name: str, tmp_path: Path) -> None:
    import pandas as pd

    from slipway.artifacts.flavors.sklearn import save
    from slipway.training.builtin import Data, build_model

    algo = get_algorithm(name)
    df, y, inputs = _mixed()
    hps = validate_hyperparameters(algo, {k: v for k, v in FAST.items() if algo.param(k)})
    model = build_model(algo, hps, "binary_classification", Data(df, y, "tabular", inputs))
    model.fit(df, y)
    save(model, tmp_path, problem_type="binary_classification", labels=[str(c) for c in model[-1].classes_],
         input_kind="tabular", inputs=inputs, samples=df)
    manifest = Manifest.read(tmp_path)
    info = export_onnx(tmp_path, manifest)
    if name == "xgboost":
        assert not info["verified"] and "all-numeric tables only" in info["reason"], info
        return
    assert info["verified"] and info["feeds"] == "columns", info
    manifest.replace(onnx=info).write(tmp_path)
    fast = load_predictor(tmp_path)
    assert fast.runtime == "onnxruntime"
    rows = [[1.5, None, 2], [None, "red", 1], [-0.5, "blue", 0]]
    want = model.predict_proba(pd.DataFrame(rows, columns=df.columns))
    got = fast.predict(rows)
    probs = np.array([[p["probabilities"][str(c)] for c in model.classes_] for p in got])
    np.testing.assert_allclose(probs, want, atol=1e-5)

    # The replica's fast path takes such JSON rows straight to the export (no DataFrame), answering alike;
    # anything it does not take (a bool, a number for a string) goes down the checked path.
    from slipway.serving.predictor import Predictor

    replica = Predictor(tmp_path)
    replica.load()
    body = orjson.dumps({"instances": rows})
    x = replica.fast_rows(body, "application/json", "")
    assert replica.fast_mixed and x is not None
    assert replica.predict_rows(x) == orjson.loads(replica.invoke(body, "application/json", "")[1])["predictions"]
    for bad in ([[True, "red", 1]], [[1.0, 2, 1]], [[1.0, "red"]], [["1", "red", 1]]):
        assert replica.fast_rows(orjson.dumps({"instances": bad}), "application/json", "") is None
    assert replica.invoke(orjson.dumps({"instances": [[1.0, "red"]]}), "application/json", "")[0] == 400
