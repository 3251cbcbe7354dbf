"""The ONNX fast path for PyTorch: exports verified at registration answer like PyTorch, to the response.

Tiny networks with seeded weights stand in for trained ones: what is checked is that the export computes
the same function, on every input form a request can take.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from slipway.artifacts import Manifest  # noqa: E402
from slipway.artifacts.flavors.torch_builtin import quiet_torchscript, save_torch_artifact  # noqa: E402
from slipway.artifacts.loading import export_onnx, load_predictor  # noqa: E402
from slipway.artifacts.onnx_runtime import TOLERANCE, runtime_of  # noqa: E402
from slipway.artifacts.preprocessing import Vocabulary  # noqa: E402
from slipway.serving.predictor import Predictor  # noqa: E402
from slipway.training.torch_nets import ServingModel, build_network  # noqa: E402

CNN_HP = {"filters": 4, "kernel_size": 3, "dense_units": 16, "dropout": 0.25, "dense_dropout": 0.5, "activation": "relu"}
LSTM_HP = {"embedding_dim": 8, "lstm_units": 8, "dense_units": 0, "dropout": 0.2, "activation": "relu"}
TEXTS = ["a sturdy lamp, I love it", "boring film, hated it", "great", "awful awful awful", "the lamp broke",
         "would buy again, brilliant"] * 4


def register(folder: Path) -> dict[str, Any]:
    """What the registry does: export, verify, record the outcome in the manifest."""
    manifest = Manifest.read(folder)
    info = export_onnx(folder, manifest)
    manifest.replace(onnx=info).write(folder)
    return info


def cnn_artifact(folder: Path, shape: tuple[int, ...] = (8, 8, 1), classes: int = 10) -> Path:
    torch.manual_seed(0)
    h, w, c = shape
    net = build_network("image-classifier", CNN_HP, {"channels": c, "height": h, "width": w}, classes)
    model = ServingModel(net, scale=255.0, mean=0.3, std=0.3, channels_last=True)
    input_shape = [h, w] if c == 1 else [h, w, c]
    samples = np.random.default_rng(1).random((100, h, w, c)).astype(np.float32) * 255
    return save_torch_artifact(
        folder, model, samples, problem_type="multiclass_classification",
        signature={"input_kind": "image", "inputs": [], "input_shape": input_shape,
                   "labels": [str(i) for i in range(classes)]},
        preprocessing={"kind": "image", "input_shape": input_shape, "value_range": [0.0, 255.0]},
    )


def lstm_artifact(folder: Path) -> Path:
    torch.manual_seed(0)
    vocabulary = Vocabulary.build(TEXTS)
    net = build_network("sequence-classifier", LSTM_HP, {"vocab_size": len(vocabulary)}, 2)
    return save_torch_artifact(
        folder, ServingModel(net), torch.from_numpy(vocabulary.encode(TEXTS, 50)),
        problem_type="binary_classification",
        signature={"input_kind": "text", "inputs": [], "input_shape": None, "labels": ["negative", "positive"]},
        preprocessing={"kind": "text", "max_length": 50, "vocabulary": "vocab.json",
                       "vocab_size": len(vocabulary)},
        vocabulary=vocabulary,
    )


def torchscript_artifact(folder: Path, net: torch.nn.Module, labels: list[str] | None) -> Path:
    """A user's TorchScript model.pt, no code: served with SageMaker's default handlers."""
    folder.mkdir(parents=True)
    with quiet_torchscript():
        torch.jit.save(torch.jit.script(net.eval()), str(folder / "model.pt"))
    (folder / "slipway-model.json").write_text(json.dumps({
        "format_version": 1, "framework": "pytorch", "model_file": "model.pt",
        "problem_type": "multiclass_classification" if labels else None,
        "signature": {"input_kind": "array", "inputs": [], "input_shape": [8, 8], "labels": labels}}))
    return folder


def digits_mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def png(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8).squeeze()).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def assert_same_answers(fast: list[dict[str, Any]], slow: list[dict[str, Any]]) -> None:
    assert [p["label"] for p in fast] == [p["label"] for p in slow]
    for p, q in zip(fast, slow):
        assert set(p) == set(q) == {"label", "confidence", "probabilities"}
        assert list(p["probabilities"]) == list(q["probabilities"])
        assert abs(p["confidence"] - q["confidence"]) <= TOLERANCE
        assert max(abs(p["probabilities"][k] - q["probabilities"][k]) for k in p["probabilities"]) <= TOLERANCE


@pytest.mark.parametrize("shape", [(8, 8, 1), (6, 5, 3)])
def test_a_built_in_cnn_is_verified_and_answers_like_pytorch(tmp_path: Path, shape: tuple[int, ...]) -> None:
    folder = cnn_artifact(tmp_path / "cnn", shape)
    info = register(folder)
    assert info["verified"], info
    assert info["inputs"] == "sample inputs" and info["rows"] == 64 and info["batches"] == [1, 2, 5, 56]
    assert info["max_abs_diff"] <= TOLERANCE and (folder / "model.onnx").is_file()
    runtime, why = runtime_of(Manifest.read(folder).to_dict())
    assert runtime == "onnxruntime" and why.startswith("ONNX export verified on 64 sample inputs in batches of 1, 2,")

    fast, slow = load_predictor(folder), load_predictor(folder, onnx=False)
    assert (fast.runtime, slow.runtime) == ("onnxruntime", "pytorch")  # type: ignore[attr-defined]
    rng = np.random.default_rng(7)
    images = np.rint(rng.random((30, *shape)) * 255)
    as_sent = images if shape[2] == 3 else images[..., 0]  # grayscale models take [H, W] images
    for instances in (as_sent[:1].tolist(), as_sent.tolist(), [png(im) for im in images[:4]],
                      [as_sent[0].ravel().tolist()]):
        assert_same_answers(fast.predict(instances), slow.predict(instances))
    body = orjson.dumps({"instances": as_sent[:3].tolist()})
    a, b = fast.invoke(body, "application/json"), slow.invoke(body, "application/json")
    assert a[1] == b[1] == "application/json"
    assert_same_answers(json.loads(a[0])["predictions"], json.loads(b[0])["predictions"])
    for bad in ([np.zeros((3, 3)).tolist()], ["not an image"]):  # the same checks, the same messages
        with pytest.raises(Exception) as on_onnx:
            fast.predict(bad)
        with pytest.raises(Exception) as on_torch:
            slow.predict(bad)
        assert str(on_onnx.value) == str(on_torch.value) and "Instance 0" in str(on_onnx.value)


def test_a_built_in_lstm_is_verified_on_every_length_and_answers_like_pytorch(tmp_path: Path) -> None:
    folder = lstm_artifact(tmp_path / "lstm")
    info = register(folder)
    assert info["verified"], info
    assert info["rows"] == len(TEXTS)
    fast, slow = load_predictor(folder), load_predictor(folder, onnx=False)
    assert fast.runtime == "onnxruntime"  # type: ignore[attr-defined]
    texts = ["great", "I love it, a sturdy lamp", "", "zzz unknown words only", "hated it " * 40,
             {"text": "brilliant"}]
    for instances in ([texts[0]], texts, texts[1:3], "a lone string"):
        assert_same_answers(fast.predict(instances), slow.predict(instances))
    a, b = fast.invoke(b"great\nawful\n", "text/plain"), slow.invoke(b"great\nawful\n", "text/plain")
    assert_same_answers(json.loads(a[0])["predictions"], json.loads(b[0])["predictions"])
    with pytest.raises(Exception, match="expects a string per instance"):
        fast.predict([[1, 2, 3]])


def test_seeded_inputs_stand_in_when_the_artifact_has_no_samples(tmp_path: Path) -> None:
    for folder in (cnn_artifact(tmp_path / "cnn"), lstm_artifact(tmp_path / "lstm")):
        (folder / "samples.npy").unlink()
        info = register(folder)
        assert info["verified"] and info["rows"] == 64, info
        assert info["inputs"] in ("seeded images", "seeded token ids")


@pytest.mark.parametrize("labels", [["0", "1", "2", "3"], None])
def test_a_torchscript_model_pt_is_verified_and_answers_like_pytorch(tmp_path: Path, labels: list[str] | None) -> None:
    folder = torchscript_artifact(tmp_path / "ts", digits_mlp(), labels)
    info = register(folder)
    assert info["verified"] and info["inputs"] == "seeded inputs", info
    fast, slow = load_predictor(folder), load_predictor(folder, onnx=False)
    assert (fast.runtime, slow.runtime) == ("onnxruntime", "pytorch")  # type: ignore[attr-defined]
    x = np.random.default_rng(3).random((12, 8, 8)) * 16
    for rows in (x[:1], x):
        a, _ = fast.invoke(orjson.dumps(rows.tolist()), "application/json")
        b, _ = slow.invoke(orjson.dumps(rows.tolist()), "application/json")
        if labels:
            assert_same_answers(json.loads(a)["predictions"], json.loads(b)["predictions"])  # like any classifier
        else:
            np.testing.assert_allclose(json.loads(a), json.loads(b), atol=TOLERANCE, rtol=0)  # the raw output
    # A shape the export was not verified on goes to PyTorch, which answers (or refuses) as before.
    flat, _ = fast.invoke(orjson.dumps(x[:2].reshape(2, 64).tolist()), "application/json")
    assert flat == slow.invoke(orjson.dumps(x[:2].reshape(2, 64).tolist()), "application/json")[0]
    with pytest.raises(Exception, match=r"The model rejected an input of shape \[1, 3\]"):
        fast.invoke(b"[[1, 2, 3]]", "application/json")


class Cummax(torch.nn.Module):
    """Uses an operator torch.onnx cannot export at opset 17."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cummax(x.flatten(1), dim=1)[0][:, -4:]


def test_a_model_that_does_not_export_records_why_and_serves_with_pytorch(tmp_path: Path) -> None:
    folder = torchscript_artifact(tmp_path / "ts", Cummax(), ["a", "b", "c", "d"])
    info = register(folder)
    assert not info["verified"] and not (folder / "model.onnx").exists()
    assert info["reason"].startswith("torch.onnx could not export it: UnsupportedOperatorError: Exporting the "
                                     "operator 'aten::cummax'"), info
    assert runtime_of(Manifest.read(folder).to_dict()) == ("pytorch", info["reason"])
    predictor = Predictor(folder)
    predictor.load()
    assert predictor.runtime == "pytorch" and predictor.onnx is None
    status, body, _ = predictor.invoke(orjson.dumps(np.ones((2, 8, 8)).tolist()), "application/json", "")
    assert status == 200 and len(orjson.loads(body)["predictions"]) == 2


def test_what_is_not_exported_says_why(tmp_path: Path) -> None:
    no_shape = torchscript_artifact(tmp_path / "no-shape", digits_mlp(), None)
    manifest = json.loads((no_shape / "slipway-model.json").read_text())
    manifest["signature"]["input_shape"] = None  # `slipway models import model.pt`: the shape is unknown
    (no_shape / "slipway-model.json").write_text(json.dumps(manifest))
    assert "the signature has no input_shape" in register(no_shape)["reason"]

    custom = torchscript_artifact(tmp_path / "custom", digits_mlp(), None)
    (custom / "code").mkdir()
    (custom / "code" / "inference.py").write_text("def predict_fn(data, model):\n    return model(data)\n")
    assert register(custom)["reason"] == "custom code (code/inference.py) is served as it is, not exported"

    state_dict = tmp_path / "state-dict"
    state_dict.mkdir()
    torch.save(digits_mlp().state_dict(), state_dict / "model.pth")
    (state_dict / "slipway-model.json").write_text(json.dumps({
        "format_version": 1, "framework": "pytorch", "model_file": "model.pth",
        "signature": {"input_kind": "array", "input_shape": [8, 8]}}))
    assert register(state_dict)["reason"].startswith("the model is not a loadable TorchScript file")


def test_no_onnx_on_the_endpoint_serves_pytorch(tmp_path: Path) -> None:
    folder = cnn_artifact(tmp_path / "cnn")
    assert register(folder)["verified"]
    on, off = Predictor(folder), Predictor(folder, onnx=False)  # the replica's --no-onnx
    on.load()
    off.load()
    assert (on.runtime, off.runtime) == ("onnxruntime", "pytorch")
    assert on.onnx is not None and off.onnx is None  # only the torch-free one gets a worker per core
    body = orjson.dumps({"instances": [np.full((8, 8), 100.0).tolist(), np.eye(8).tolist()]})
    (s1, b1, _), (s2, b2, _) = on.invoke(body, "application/json", ""), off.invoke(body, "application/json", "")
    assert s1 == s2 == 200
    assert_same_answers(orjson.loads(b1)["predictions"], orjson.loads(b2)["predictions"])


def test_serving_a_verified_built_in_does_not_import_torch(tmp_path: Path) -> None:
    folder = lstm_artifact(tmp_path / "lstm")
    assert register(folder)["verified"]
    code = ("import sys; from slipway.serving.predictor import Predictor; p = Predictor(sys.argv[1]); p.load(); "
            "print(p.runtime, p.invoke(b'{\"instances\": [\"great\"]}', 'application/json', '')[0], "
            "'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "onnxruntime" and out.stdout.split()[-1] == "False", out.stdout
