"""Deep learning end to end as a library: train the built-ins on the demo data, save, load, serve.

The job runner and replicas call exactly these functions (`train_builtin`,
`load_predictor`); wiring them to jobs and endpoints is tested with those features.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slipway.artifacts.loading import load_predictor  # noqa: E402
from slipway.demo import build_demo_files  # noqa: E402
from slipway.errors import InvalidArgument  # noqa: E402
from slipway.training.torch_train import TrainResult, train_builtin  # noqa: E402

SMALL_CNN = {"epochs": 6, "filters": 16, "dense_units": 64, "batch_size": 32, "early_stopping_patience": 0}


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo")
    build_demo_files(root)
    return root


@pytest.fixture(scope="module")
def cnn(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    epochs: list[int] = []
    out = tmp_path_factory.mktemp("cnn")
    result = train_builtin("image-classifier", demo / "digits", out / "model", SMALL_CNN,
                           on_epoch=lambda e, m: epochs.append(e), checkpoint_dir=out / "checkpoints")
    assert epochs == list(range(1, 7))
    return result


@pytest.fixture(scope="module")
def lstm(demo: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainResult:
    return train_builtin("sequence-classifier", demo / "reviews", tmp_path_factory.mktemp("lstm") / "model",
                         {"epochs": 12, "embedding_dim": 32, "lstm_units": 32, "early_stopping_patience": 4})


def digit_pixels(demo: Path, n: int = 20) -> tuple[np.ndarray, list[str], list[Path]]:
    from PIL import Image

    files = sorted(demo.glob("digits/*/*.png"))[::90][:n]
    pixels = np.stack([np.asarray(Image.open(f), dtype=np.float32) for f in files])
    return pixels, [f.parent.name for f in files], files


def test_cnn_learns_the_digits_and_writes_the_artifact(cnn: TrainResult) -> None:
    assert cnn.metrics["validation:accuracy"] >= 0.90
    assert {"validation:f1_macro", "validation:roc_auc", "validation:log_loss", "train:loss"} <= set(cnn.metrics)
    files = {p.name for p in cnn.model_dir.iterdir()}
    assert {"slipway-model.json", "model.pt", "preprocessing.json", "evaluation.json"} <= files
    assert not [f for f in files if f.startswith(".")]
    meta = json.loads((cnn.model_dir / "slipway-model.json").read_text())
    assert meta["framework"] == "pytorch" and meta["model_file"] == "model.pt"
    assert meta["problem_type"] == "multiclass_classification"
    assert meta["signature"] == {"input_kind": "image", "inputs": [], "input_shape": [8, 8],
                                 "labels": [str(d) for d in range(10)]}
    assert meta["lineage"]["algorithm"] == "image-classifier" and meta["lineage"]["hyperparameters"]["epochs"] == 6
    report = json.loads((cnn.model_dir / "evaluation.json").read_text())
    assert len(report["confusion_matrix"]) == 10 and len(report["history"]) == 6


def test_loaded_cnn_predicts_like_the_trained_one(cnn: TrainResult, demo: Path) -> None:
    pixels, truth, files = digit_pixels(demo)
    predictor = load_predictor(cnn.model_dir)
    with torch.inference_mode():
        in_memory = cnn.model(torch.from_numpy(pixels[..., None])).numpy()
    np.testing.assert_allclose(predictor.predict_proba(pixels.tolist()), in_memory, atol=1e-5)
    out = predictor.predict(pixels.tolist())
    assert sum(p["label"] == t for p, t in zip(out, truth)) >= 17
    assert set(out[0]) == {"label", "confidence", "probabilities"}
    assert out[0]["confidence"] == max(out[0]["probabilities"].values())
    encoded = [base64.b64encode(f.read_bytes()).decode() for f in files]
    np.testing.assert_allclose(predictor.predict_proba(encoded), in_memory, atol=1e-5)
    flat = predictor.predict([pixels[0].ravel().tolist()])[0]
    assert flat["label"] == out[0]["label"]
    body, ctype = predictor.invoke(json.dumps({"instances": [pixels[0].tolist()]}).encode(), "application/json")
    assert ctype == "application/json" and json.loads(body)["predictions"][0]["label"] == out[0]["label"]


@pytest.mark.parametrize(
    ("instance", "message"),
    [
        (np.zeros((28, 28)).tolist(), r"Instance 0 has shape \[28, 28\]; this image model expects an image of shape \[8, 8\]"),
        ("this is a review, not an image", "is a string that is not a base64-encoded PNG or JPEG image"),
        ([["a"] * 8] * 8, r"has pixel values that are not numbers \(found 'a'\).*\[8, 8\]"),
    ],
)
def test_bad_image_requests_are_invalid_arguments(cnn: TrainResult, instance: object, message: str) -> None:
    predictor = load_predictor(cnn.model_dir)
    with pytest.raises(InvalidArgument, match=message) as info:
        predictor.predict([instance])
    assert info.value.status_code == 400


def test_cnn_on_npz_arrays_records_their_value_range(demo: Path, tmp_path: Path) -> None:
    result = train_builtin("image-classifier", demo / "digits.npz", tmp_path / "m", {**SMALL_CNN, "epochs": 1})
    prep = json.loads((tmp_path / "m" / "preprocessing.json").read_text())
    assert prep["value_range"] == [0.0, 16.0] and prep["input_shape"] == [8, 8]
    assert result.best_epoch == 1


def test_lstm_beats_chance_on_the_reviews(lstm: TrainResult) -> None:
    assert lstm.metrics["validation:accuracy"] >= 0.7  # two balanced classes: chance is 0.5
    meta = json.loads((lstm.model_dir / "slipway-model.json").read_text())
    assert meta["signature"]["input_kind"] == "text" and meta["signature"]["labels"] == ["negative", "positive"]
    assert meta["problem_type"] == "binary_classification"
    assert (lstm.model_dir / "vocab.json").exists()


def test_loaded_lstm_predicts_like_the_trained_one(lstm: TrainResult) -> None:
    texts = ["I love this lamp, brilliant and sturdy.", "Hated it. A boring, disappointing film.",
             "zzz unseen words only", ""]
    predictor = load_predictor(lstm.model_dir)
    assert predictor.vocabulary is not None
    ids = torch.from_numpy(predictor.vocabulary.encode(texts, 200))
    with torch.inference_mode():
        in_memory = lstm.model(ids).numpy()
    np.testing.assert_allclose(predictor.predict_proba(texts), in_memory, atol=1e-5)
    labels = [p["label"] for p in predictor.predict(texts[:2])]
    assert labels == ["positive", "negative"]
    with pytest.raises(InvalidArgument, match="expects a string per instance"):
        predictor.predict([np.zeros((8, 8)).tolist()])


def test_training_refuses_bad_hyperparameters_and_one_class_data(tmp_path: Path, demo: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"The 'epochs' hyperparameter of image-classifier must be an int in the range \[1, 1000\]. Got 0 instead."):
        train_builtin("image-classifier", demo / "digits", tmp_path / "m", {"epochs": 0})
    (tmp_path / "one" / "only").mkdir(parents=True)
    (tmp_path / "one" / "only" / "a.txt").write_text("hello")
    with pytest.raises(InvalidArgument, match="needs at least two"):
        train_builtin("sequence-classifier", tmp_path / "one", tmp_path / "m")
    with pytest.raises(InvalidArgument, match="Did you mean 'image-classifier'"):
        train_builtin("image-clasifier", demo / "digits", tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_onnx_export_of_the_trained_nets_answers_like_pytorch(cnn: TrainResult, lstm: TrainResult, demo: Path,
                                                             tmp_path: Path) -> None:
    """What registration does to a job's artifact: export, verify on its training samples, serve on ONNX."""
    pytest.importorskip("onnxruntime")
    import shutil

    from slipway.artifacts import Manifest
    from slipway.artifacts.loading import export_onnx
    from slipway.artifacts.onnx_runtime import TOLERANCE

    pixels, _, files = digit_pixels(demo)
    texts = ["loved it", "a boring and disappointing film, hated every minute", "zzz", ""]
    pngs = [base64.b64encode(f.read_bytes()).decode() for f in files[:5]]
    for result, requests in ((cnn, [pixels.tolist(), pixels[:1].tolist(), pngs]), (lstm, [texts, texts[:1]])):
        assert (result.model_dir / "samples.npy").is_file() and not (result.model_dir / "model.onnx").exists()
        folder = shutil.copytree(result.model_dir, tmp_path / result.model_dir.parent.name)
        manifest = Manifest.read(folder)
        info = export_onnx(folder, manifest)
        assert info["verified"] and info["inputs"] == "sample inputs" and info["rows"] > 8, info
        manifest.replace(onnx=info).write(folder)
        fast, slow = load_predictor(folder), load_predictor(folder, onnx=False)
        assert fast.runtime == "onnxruntime" and slow.runtime == "pytorch"
        for instances in requests:
            a, b = fast.predict(instances), slow.predict(instances)
            assert [p["label"] for p in a] == [p["label"] for p in b]
            assert np.abs(fast.predict_proba(instances) - slow.predict_proba(instances)).max() <= TOLERANCE
