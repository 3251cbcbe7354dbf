"""SageMaker's answers from a replica's predictor: a built-in XGBoost model as the XGBoost container answers
(bare scores) when a SageMaker path asks, and custom attributes through a handler's ``context``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest

from slipway.artifacts import Manifest, Signature
from slipway.artifacts.handlers import CUSTOM_ATTRIBUTES, SAGEMAKER_HEADER
from slipway.errors import NotAcceptable
from slipway.serving.predictor import Predictor, xgboost_container_answer

HANDLER = """
import numpy as np

def model_fn(model_dir):
    return None

def input_fn(body, content_type, context):
    return body

def predict_fn(data, model, context):
    return data

def output_fn(prediction, accept, context):
    seen = context.get_request_header(0, "X-Amzn-SageMaker-Custom-Attributes")
    if seen:
        context.set_response_header(0, "X-Amzn-SageMaker-Custom-Attributes", "echo=" + seen)
    return "got " + str(prediction)
"""


def test_xgboost_container_shapes() -> None:
    body = orjson.dumps({"predictions": [
        {"label": "1", "confidence": 0.8, "probabilities": {"0": 0.2, "1": 0.8}},
        {"label": "0", "confidence": 0.9, "probabilities": {"0": 0.9, "1": 0.1}}]})
    assert xgboost_container_answer(body, "") == (b"0.8\n0.1", "text/csv")
    assert xgboost_container_answer(body, "application/json")[0] == b'{"predictions":[{"score":0.8},{"score":0.1}]}'
    assert xgboost_container_answer(body, "application/jsonlines")[0] == b'{"score":0.8}\n{"score":0.1}\n'
    multi = orjson.dumps({"predictions": [{"label": "b", "probabilities": {"a": 0.2, "b": 0.5, "c": 0.3}}]})
    assert xgboost_container_answer(multi, "text/csv")[0] == b"0.2,0.5,0.3"
    assert xgboost_container_answer(orjson.dumps({"predictions": [{"value": 3}]}), "*/*")[0] == b"3.0"
    with pytest.raises(NotAcceptable, match="Accept 'image/png'"):
        xgboost_container_answer(body, "image/png")


def test_builtin_xgboost_answers_scores_only_on_the_sagemaker_path(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    from slipway.artifacts.flavors.xgboost import save

    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]] * 10)
    y = np.array([0, 1, 0, 1] * 10)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(x, label=y), num_boost_round=5)
    save(booster, tmp_path, samples=x)
    p = Predictor(tmp_path)
    p.load()
    want = booster.predict(xgb.DMatrix(x[:2]))
    status, out, ct, attrs = p.invoke_with(b"0,1\n1,0\n", "text/csv", "", {SAGEMAKER_HEADER: "1"})
    assert (status, ct, attrs) == (200, "text/csv", None)
    np.testing.assert_allclose([float(v) for v in out.split(b"\n")], want, rtol=1e-5)
    status, out, _ = p.invoke(b"0,1\n1,0\n", "text/csv", "application/json")  # Slipway's own shape stays
    assert status == 200 and [r["label"] for r in orjson.loads(out)["predictions"]] == ["0", "1"]
    status, out, _, _ = p.invoke_with(b"0,1\n", "text/csv", "image/png", {SAGEMAKER_HEADER: "1"})
    assert status == 406 and b"image/png" in out


def test_custom_attributes_reach_the_handlers_and_come_back_only_when_set(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "inference.py").write_text(HANDLER)
    Manifest("custom", signature=Signature("array")).write(tmp_path)
    p = Predictor(tmp_path)
    p.load()
    status, out, _, attrs = p.invoke_with(b"hi", "text/plain", "text/plain", {CUSTOM_ATTRIBUTES: "trace=7"})
    assert (status, out, attrs) == (200, b"got hi", "echo=trace=7")
    assert p.invoke_with(b"hi", "text/plain", "text/plain", {})[3] is None


def test_only_xgboost_models_answer_as_the_xgboost_container(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    from slipway.artifacts.flavors.sklearn import save

    x, y = np.array([[0.0, 1.0], [1.0, 0.0]] * 5), np.array([0, 1] * 5)
    est = LogisticRegression().fit(x, y)
    for name, lineage, scores in (("builtin-xgb", {"algorithm": "xgboost"}, True), ("plain", {}, False)):
        save(est, tmp_path / name, problem_type="binary_classification", labels=["0", "1"], lineage=lineage)
        p = Predictor(tmp_path / name, onnx=False)
        p.load()
        status, out, ct, _ = p.invoke_with(b"1,0\n", "text/csv", "", {SAGEMAKER_HEADER: "1"})
        assert status == 200 and (ct == "text/csv") is scores, out
        if scores:
            assert abs(float(out) - est.predict_proba([[1.0, 0.0]])[0][1]) < 1e-6
