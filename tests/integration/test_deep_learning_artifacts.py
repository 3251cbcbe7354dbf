"""User artifacts served through `load_predictor`: Keras .keras files and SageMaker-style PyTorch folders."""

from __future__ import annotations

import importlib.util
import io
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slipway.artifacts.flavors.torch_builtin import quiet_torchscript  # noqa: E402
from slipway.artifacts.loading import load_predictor  # noqa: E402
from slipway.errors import InvalidArgument  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch: Any = load_digits()
    return bunch.images.astype(np.float32), bunch.target


INFERENCE_PY = '''
import json
import os

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.fc(x / 16.0)


def model_fn(model_dir):
    model = Net()
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f, weights_only=True))
    return model.eval()
'''


def train_state_dict(folder: Path, digits: tuple[np.ndarray, np.ndarray], extra_code: str = "") -> Any:
    (folder / "code").mkdir(parents=True)
    (folder / "code" / "inference.py").write_text(INFERENCE_PY + textwrap.dedent(extra_code))
    spec = importlib.util.spec_from_file_location("user_inference_for_training", folder / "code" / "inference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    net = module.Net()
    x, y = torch.from_numpy(digits[0]), torch.from_numpy(digits[1])
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    torch.save(net.state_dict(), folder / "model.pth")
    return net.eval()


def test_state_dict_with_model_fn_serves_with_default_handlers(tmp_path: Path, digits: tuple) -> None:
    net = train_state_dict(tmp_path / "art", digits)
    predictor = load_predictor(tmp_path / "art")
    x = digits[0][:5]
    body, ctype = predictor.invoke(json.dumps(x.tolist()).encode(), "application/json", "application/json")
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    assert ctype == "application/json"
    np.testing.assert_allclose(np.array(json.loads(body)), expected, atol=1e-5)
    buffer = io.BytesIO()
    np.save(buffer, x)
    body, ctype = predictor.invoke(buffer.getvalue(), "application/x-npy", "application/x-npy")
    assert ctype == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(body)), expected, atol=1e-5)
    with pytest.raises(InvalidArgument, match=r"The model rejected an input of shape \[1, 7\]"):
        predictor.invoke(b"[[1, 2, 3, 4, 5, 6, 7]]", "application/json")


def test_user_handlers_and_labels_give_label_and_confidence(tmp_path: Path, digits: tuple) -> None:
    extra = '''
    def input_fn(body, content_type):
        return torch.tensor(json.loads(body)["pixels"], dtype=torch.float32)

    def predict_fn(data, model):
        with torch.no_grad():
            return torch.softmax(model(data), dim=1)

    def output_fn(prediction, accept):
        return {"digits": prediction.argmax(1).tolist()}, "application/json"
    '''
    net = train_state_dict(tmp_path / "art", digits, extra)
    (tmp_path / "art" / "slipway-model.json").write_text(json.dumps({
        "format_version": 1, "framework": "pytorch", "model_file": "model.pth",
        "problem_type": "multiclass_classification",
        "signature": {"input_kind": "image", "inputs": [], "input_shape": [8, 8],
                      "labels": [str(d) for d in range(10)]},
    }))
    predictor = load_predictor(tmp_path / "art")
    x = digits[0][:3]
    body, ctype = predictor.invoke(json.dumps({"pixels": x.tolist()}).encode(), "application/json")
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).argmax(1).tolist()
    assert json.loads(body) == {"digits": expected} and ctype == "application/json"


def test_torchscript_model_pt_needs_no_code(tmp_path: Path, digits: tuple) -> None:
    net = train_state_dict(tmp_path / "src", digits)
    (tmp_path / "art").mkdir()
    with quiet_torchscript():
        torch.jit.save(torch.jit.script(net), str(tmp_path / "art" / "model.pt"))
    (tmp_path / "art" / "slipway-model.json").write_text(json.dumps({
        "format_version": 1, "framework": "pytorch", "model_file": "model.pt",
        "signature": {"input_kind": "array", "input_shape": [8, 8], "labels": [str(d) for d in range(10)]},
    }))
    predictor = load_predictor(tmp_path / "art")
    out = predictor.predict(digits[0][:10].tolist())
    assert sum(p["label"] == str(t) for p, t in zip(out, digits[1][:10])) >= 8
    assert abs(sum(out[0]["probabilities"].values()) - 1) < 1e-6  # logits became probabilities


def test_a_state_dict_without_model_fn_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "art" / "model.pth")
    with pytest.raises(InvalidArgument, match="model.pth in 'art' is not TorchScript.*add code/inference.py with a model_fn"):
        load_predictor(tmp_path / "art")


@pytest.fixture(scope="module")
def keras_model(digits: tuple, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    from slipway.artifacts.flavors.keras import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Rescaling(1 / 16),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(digits[0][..., None], digits[1], epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("keras") / "digits.keras"
    model.save(path)
    return model, path


def test_keras_file_serves_label_and_confidence(keras_model: tuple, digits: tuple) -> None:
    model, path = keras_model
    x = digits[0][:10]
    predictor = load_predictor(path)
    assert predictor.framework == "keras" and predictor.signature["input_shape"] == [8, 8]
    expected = model.predict(x[..., None], verbose=0)
    np.testing.assert_allclose(predictor.predict_proba(x.tolist()), expected, atol=1e-5)
    out = predictor.predict(x.tolist())
    assert sum(p["label"] == str(t) for p, t in zip(out, digits[1][:10])) >= 8
    folder = path.parent
    assert load_predictor(folder).predict(x[:1].tolist())[0]["label"] == out[0]["label"]
    with pytest.raises(InvalidArgument, match=r"Instance 0 has shape \[7, 7\]; this image model expects an image of shape \[8, 8\]"):
        predictor.predict([np.zeros((7, 7)).tolist()])
    with pytest.raises(InvalidArgument, match="not a base64-encoded PNG or JPEG image"):
        predictor.predict(["a review"])


def test_keras_without_the_extra_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "keras" else real(name, *a))
    (tmp_path / "m.keras").write_bytes(b"not really")
    with pytest.raises(InvalidArgument, match=r"needs the 'keras' extra.*pip install 'slipway\[keras\]'"):
        load_predictor(tmp_path / "m.keras")
