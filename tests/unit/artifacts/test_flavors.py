"""The flavor conformance suite: every framework in FLAVORS passes the same tests.

save -> load -> predict round trip, the manifest round trip, bad input -> InvalidArgument, and a
missing extra named in the error. Adding a flavor means adding its builder to BUILDERS.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from slipway.artifacts import FRAMEWORKS, Manifest, Signature
from slipway.artifacts.flavors import FLAVORS, flavor
from slipway.artifacts.loading import load_predictor
from slipway.errors import InvalidArgument

rng = np.random.default_rng(0)
X = rng.normal(size=(60, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(int)
ROWS = X[:5].tolist()
Built = tuple[Path, Callable[[Any], None]]  # the artifact folder, a check of predict(ROWS)


def labels_match(expected: np.ndarray) -> Callable[[Any], None]:
    def check(out: Any) -> None:
        assert [p["label"] for p in out] == [str(v) for v in expected]
        assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in out)
    return check


def build_sklearn(tmp: Path) -> Built:
    from sklearn.linear_model import LogisticRegression

    from slipway.artifacts.flavors.sklearn import save

    est = LogisticRegression().fit(X, Y)
    save(est, tmp, samples=X)
    return tmp, labels_match(est.predict(X[:5]))


def build_xgboost(tmp: Path) -> Built:
    xgb = pytest.importorskip("xgboost")
    from slipway.artifacts.flavors.xgboost import save

    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, label=Y), num_boost_round=5)
    save(booster, tmp, samples=X)
    return tmp, labels_match((booster.predict(xgb.DMatrix(X[:5])) > 0.5).astype(int))


def build_lightgbm(tmp: Path) -> Built:
    lgb = pytest.importorskip("lightgbm")
    from slipway.artifacts.flavors.lightgbm import save

    booster = lgb.train({"objective": "binary", "verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(X, label=Y),
                        num_boost_round=5)
    save(booster, tmp, samples=X)
    return tmp, labels_match((booster.predict(X[:5]) > 0.5).astype(int))


def build_pytorch(tmp: Path) -> Built:
    torch = pytest.importorskip("torch")
    from slipway.artifacts.flavors.torch_builtin import quiet_torchscript

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 2))
    tmp.mkdir(parents=True, exist_ok=True)
    with quiet_torchscript():
        torch.jit.save(torch.jit.script(net), str(tmp / "model.pt"))
    Manifest("pytorch", "model.pt", "binary_classification",
             Signature("array", [], [4], ["0", "1"])).write(tmp)
    with torch.no_grad():
        expected = net(torch.from_numpy(X[:5])).argmax(1).numpy()
    return tmp, labels_match(expected)


def build_keras(tmp: Path) -> Built:
    from slipway.artifacts.flavors import missing_modules
    from slipway.artifacts.flavors.keras import import_keras

    if missing_modules(("keras", "torch")):
        pytest.skip("keras is not installed")
    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    tmp.mkdir(parents=True, exist_ok=True)
    model.save(tmp / "model.keras")
    Manifest("keras", "model.keras", "binary_classification", Signature("array", [], [4], ["0", "1"])).write(tmp)
    return tmp, labels_match(model.predict(X[:5], verbose=0).argmax(1))


def build_onnx(tmp: Path) -> Built:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    from slipway.artifacts.flavors.onnx import save

    est = LogisticRegression().fit(X, Y)
    graph = to_onnx(est, X[:1], options={"zipmap": False}).SerializeToString()
    save(graph, tmp, signature=Signature.tabular(["a", "b", "c", "d"], ["0", "1"]),
         problem_type="binary_classification")
    return tmp, labels_match(est.predict(X[:5]))


CUSTOM_CODE = """
import numpy as np

class Doubler:
    def predict(self, x):
        return np.asarray(x, dtype=float).sum(axis=1) * 2

def model_fn(model_dir):
    return Doubler()
"""


def build_custom(tmp: Path) -> Built:
    (tmp / "code").mkdir(parents=True)
    (tmp / "code" / "inference.py").write_text(CUSTOM_CODE)
    Manifest("custom", signature=Signature("array")).write(tmp)

    def check(out: Any) -> None:
        np.testing.assert_allclose(np.asarray(out), X[:5].astype(float).sum(axis=1) * 2, rtol=1e-5)
    return tmp, check


BUILDERS: dict[str, Callable[[Path], Built]] = {
    "sklearn": build_sklearn, "xgboost": build_xgboost, "lightgbm": build_lightgbm, "pytorch": build_pytorch,
    "keras": build_keras, "onnx": build_onnx, "custom": build_custom,
}


def test_every_framework_has_a_flavor_and_a_builder() -> None:
    assert set(FLAVORS) == set(FRAMEWORKS) == set(BUILDERS)
    for name in FLAVORS:
        module = flavor(name)
        assert module.NAME == name and module.EXTRA == FLAVORS[name][1]
        for fn in ("load", "export_onnx", "defaults"):
            assert callable(getattr(module, fn)), (name, fn)


@pytest.fixture(params=sorted(BUILDERS))
def built(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, Callable[[Any], None]]:
    folder, check = BUILDERS[request.param](tmp_path / "model")
    return request.param, folder, check


def test_save_load_predict_round_trip(built: tuple[str, Path, Callable[[Any], None]]) -> None:
    name, folder, check = built
    predictor = load_predictor(folder)
    assert predictor.framework == name
    check(predictor.predict(ROWS))
    body, content_type = predictor.invoke(orjson.dumps({"instances": ROWS}), "application/json", "application/json")
    assert content_type == "application/json"
    answer = orjson.loads(body)
    check(answer["predictions"] if isinstance(answer, dict) else answer)


def test_manifest_round_trip(built: tuple[str, Path, Callable[[Any], None]]) -> None:
    name, folder, _ = built
    manifest = Manifest.read(folder)
    assert manifest.framework == name
    assert Manifest.from_dict(json.loads(manifest.to_bytes()), folder) == manifest


def test_bad_input_is_an_invalid_argument(built: tuple[str, Path, Callable[[Any], None]]) -> None:
    name, folder, _ = built
    predictor = load_predictor(folder)
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        predictor.invoke(b"{nope", "application/json", "application/json")
    if name == "custom":  # no signature: only its own code knows what a row is
        return
    with pytest.raises(InvalidArgument):  # a row of the wrong width
        predictor.invoke(orjson.dumps({"instances": [[1.0, 2.0]]}), "application/json", "application/json")


def test_export_never_raises(built: tuple[str, Path, Callable[[Any], None]]) -> None:
    from slipway.artifacts.loading import export_onnx

    _, folder, _ = built
    info = export_onnx(folder, Manifest.read(folder))
    assert isinstance(info["verified"], bool) and (info["verified"] or info["reason"])


@pytest.mark.parametrize("name", [n for n, (_, extra, _) in FLAVORS.items() if extra])
def test_a_missing_extra_is_named(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, extra, modules = FLAVORS[name]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda mod, *a: None if mod.split(".")[0] in modules else real(mod, *a))
    model_file = {"keras": "model.keras", "onnx": "model.onnx", "xgboost": "xgboost-model",
                  "lightgbm": "model.txt"}.get(name, "model.pt")
    (tmp_path / model_file).write_bytes(b"not a model")
    Manifest(name, model_file, signature=Signature("array")).write(tmp_path)
    with pytest.raises(InvalidArgument, match=rf"needs the '{extra}' extra.*pip install 'slipway\[{extra}\]'"):
        flavor(name).load(tmp_path, Manifest.read(tmp_path))


@pytest.mark.parametrize("name", ["sklearn", "xgboost", "lightgbm"])
def test_tabular_exports_verify_and_serve_alike(name: str, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from slipway.artifacts.loading import export_onnx

    folder, check = BUILDERS[name](tmp_path / "model")
    manifest = Manifest.read(folder)
    info = export_onnx(folder, manifest)
    assert info["verified"], info
    manifest.replace(onnx=info).write(folder)
    fast, plain = load_predictor(folder), load_predictor(folder, onnx=False)
    assert fast.runtime == "onnxruntime" and plain.runtime != "onnxruntime"
    check(fast.predict(ROWS))
    assert [p["label"] for p in fast.predict(X.tolist())] == [p["label"] for p in plain.predict(X.tolist())]


def test_xgboost_container_defaults_serve_a_booster_trained_on_named_columns(tmp_path: Path) -> None:
    """A Booster trained on a DataFrame has feature names; requests have none. The container does not check."""
    xgb = pytest.importorskip("xgboost")
    import pandas as pd

    from slipway.artifacts.flavors.xgboost import decode_matrix, defaults

    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(4)])
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(frame, label=Y), num_boost_round=3)
    assert booster.feature_names == ["c0", "c1", "c2", "c3"]
    d = defaults(Manifest("xgboost", "xgboost-model", signature=Signature("array")))
    rows = "\n".join(",".join(map(str, r)) for r in X[:3])
    out = d.predict_fn(decode_matrix(rows, "text/csv"), booster)
    assert out == pytest.approx(booster.predict(xgb.DMatrix(frame.iloc[:3])), abs=1e-6)
    with pytest.raises(InvalidArgument, match="The rows have 3 features. Expected 4"):
        d.predict_fn(decode_matrix("1,2,3", "text/csv"), booster)
