"""Deep learning on the platform: built-in networks and PyTorch/Keras scripts as real jobs, served by endpoints.

One server for the module (the networks are the slow part, not the server). Its PYTHONPATH holds a
``sitecustomize`` that hides a module from job processes whose name starts with ``no-keras``
(``keras``) or ``no-torch`` (``torch``), as on a machine without that extra; every other process,
the server's and the replicas' included, sees the real packages.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from slipway.client import Client  # noqa: E402
from slipway.errors import InvalidArgument, JobFailed  # noqa: E402
from tests.support.servers import SlipwayServer  # noqa: E402

HIDE_EXTRAS = '''
import os, sys

class _HideExtra:
    """Acts as if keras / torch were not installed, for job processes named no-keras-* / no-torch-*."""

    def find_spec(self, name, path=None, target=None):
        job = os.environ.get("SLIPWAY_JOB_NAME", "")
        for prefix, module in (("no-keras", "keras"), ("no-torch", "torch")):
            if job.startswith(prefix) and (name == module or name.startswith(module + ".")):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _HideExtra())
'''

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlipwayServer]:
    root = tmp_path_factory.mktemp("dl-server")
    (root / "site").mkdir()
    (root / "site" / "sitecustomize.py").write_text(HIDE_EXTRAS)
    srv = SlipwayServer(root / "home", env={"PYTHONPATH": str(root / "site")}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def c(server: SlipwayServer) -> Iterator[Client]:
    client = Client(url=server.url, home=server.home)
    yield client
    client.close()


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch: Any = load_digits()
    return bunch.images, bunch.target


@pytest.fixture(scope="module")
def demo(c: Client, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's digits image folder (8x8 PNGs, 0-255) and reviews text folder, pushed as digits:1, reviews:1."""
    from slipway.demo import build_demo_files

    root = tmp_path_factory.mktemp("demo")
    build_demo_files(root)
    assert c.datasets.push("digits", root / "digits").version.format == "image-folder"
    assert c.datasets.push("reviews", root / "reviews").version.format == "text-folder"
    return root


def slipway(server: SlipwayServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slipway.cli.main", *args], capture_output=True, text=True,
                          env=server.cli_env(), timeout=300)


def register(c: Client, job: str, model: str, tmp: Path) -> str:
    """The job's model.tar.gz (GET /api/v1/jobs/{job}/model), imported into the registry as a new version."""
    return c.models.import_(c.jobs.download(job, tmp), model).ref


def finished(job: Any, timeout: float = 240) -> Any:
    """The job once it ended, failed or not."""
    try:
        job.wait(timeout=timeout)
    except JobFailed:
        pass
    return job.refresh()


def unpack(archive: Path, dest: Path) -> Path:
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(dest, filter="data")
    return dest


def png_b64(pixels: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# -- built-in networks ----------------------------------------------------------------------------


def test_algorithms_list_and_show_the_networks(server: SlipwayServer) -> None:
    listed = slipway(server, "algorithms", "list")
    assert listed.returncode == 0 and "image-classifier" in listed.stdout and "sequence-classifier" in listed.stdout
    shown = json.loads(slipway(server, "algorithms", "show", "image-classifier", "--output", "json").stdout)
    assert shown["framework"] == "pytorch" and shown["input_kinds"] == ["image-folder", "npz", "files"]
    epochs = next(h for h in shown["hyperparameters"] if h["name"] == "epochs")
    assert (epochs["type"], epochs["range"], epochs["default"]) == ("int", "[1, 1000]", 10)
    assert {"learning_rate", "optimizer", "filters"} <= set(shown["search_space"])


def test_cnn_job_learns_the_digits_streams_epochs_and_serves(
    server: SlipwayServer, c: Client, demo: Path, digits: tuple, tmp_path: Path,
) -> None:
    run = slipway(server, "train", "--algorithm", "image-classifier", "--data", "train=digits:1", "--hp", "epochs=5",
                  "--hp", "batch_size=64", "--hp", "filters=16", "--hp", "dense_units=64", "--name", "digits-cnn",
                  "--no-wait")  # a quarter of the default network's work, still >= 90%
    assert run.returncode == 0, run.stderr
    job = c.jobs.get("digits-cnn").wait(timeout=240)
    assert (job.status, job.framework, job.problem_type) == ("Completed", "pytorch", "multiclass_classification")
    assert job.metrics["validation:accuracy"] >= 0.90
    assert {"validation:f1_macro", "validation:log_loss", "train:loss"} <= set(job.metrics)
    series = job.metric_series().series
    per_epoch = [p.step for p in series["validation:accuracy"] if p.step is not None]
    assert per_epoch == [1, 2, 3, 4, 5] and [p.step for p in series["train:loss"]][:5] == [1, 2, 3, 4, 5]
    logs = "".join(job.logs())
    assert "epoch 5: train:loss" in logs and "threads" in logs

    ref = register(c, "digits-cnn", "digits", tmp_path)
    assert ref == "digits:1" and c.models.get(ref).framework == "pytorch"
    assert c.models.get(ref).runtime == "onnxruntime"  # everything below goes through the ONNX export
    deployed = slipway(server, "endpoints", "deploy", "digits-ep", "--model", "digits:1")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    images, truth = np.rint(digits[0][:20] * 255 / 16), digits[1][:20]  # the demo's PNGs are 0-255
    answer = slipway(server, "endpoints", "invoke", "digits-ep", "--data",
                     json.dumps({"instances": [images[0].tolist()]}), "--output", "json")
    assert answer.returncode == 0, answer.stderr
    first = json.loads(answer.stdout)["predictions"][0]
    assert set(first) == {"label", "confidence", "probabilities"} and first["label"] == str(truth[0])
    out = c.endpoints.invoke("digits-ep", {"instances": images.tolist()})["predictions"]
    assert sum(p["label"] == str(t) for p, t in zip(out, truth)) >= 18
    pngs = [png_b64(im) for im in images[:5]]
    by_png = c.endpoints.invoke("digits-ep", {"instances": pngs})["predictions"]
    assert [p["label"] for p in by_png] == [p["label"] for p in out[:5]]

    for instance, message in [
        (np.zeros((28, 28)).tolist(), r"Instance 0 has shape \[28, 28\]; this image model expects an image of "
                                      r"shape \[8, 8\]"),
        ("a lovely lamp, would buy again", "is a string that is not a base64-encoded PNG or JPEG image"),
        ([["x"] * 8] * 8, "has pixel values that are not numbers"),
    ]:
        with pytest.raises(InvalidArgument, match=message):
            c.endpoints.invoke("digits-ep", {"instances": [instance]})
    assert c.endpoints.get("digits-ep").status == "InService"  # bad input never takes a replica down


def replica_runtime(endpoint: Any) -> str:
    """The runtime a replica reports in its /metrics."""
    import httpx

    metrics = httpx.get(endpoint.replicas[0].url.replace("/invocations", "/metrics")).text
    line = next(ln for ln in metrics.splitlines() if ln.startswith("slipway_replica_info"))
    return line.split('runtime="', 1)[1].split('"', 1)[0]


def test_lstm_job_trains_on_the_reviews_and_serves(server: SlipwayServer, c: Client, demo: Path,
                                                  tmp_path: Path) -> None:
    job = c.jobs.create("reviews-lstm", algorithm="sequence-classifier", data={"train": "reviews:1"},
                        hyperparameters={"epochs": 3, "embedding_dim": 32, "lstm_units": 32}).wait(timeout=240)
    assert job.status == "Completed" and job.problem_type == "binary_classification"
    assert 0.0 <= job.metrics["validation:accuracy"] <= 1.0
    assert [p.step for p in job.metric_series().series["validation:loss"]][:3] == [1, 2, 3]
    ref = register(c, "reviews-lstm", "reviews", tmp_path)
    shown = slipway(server, "models", "show", ref)
    assert "runtime: onnxruntime (ONNX export verified on" in shown.stdout, shown.stdout + shown.stderr
    fast = c.endpoints.deploy("reviews-ep", ref)
    texts = ["I love it, brilliant and sturdy.", "Boring. Hated it.", "zzz", "", "a lamp " * 300]
    out = c.endpoints.invoke("reviews-ep", {"instances": texts})
    assert [set(p) for p in out["predictions"]] == [{"label", "confidence", "probabilities"}] * len(texts)
    assert {p["label"] for p in out["predictions"]} <= {"positive", "negative"}
    with pytest.raises(InvalidArgument, match="expects a string per instance"):
        c.endpoints.invoke("reviews-ep", {"instances": [np.zeros((8, 8)).tolist()]})
    # Turned off per endpoint, PyTorch serves the same model and answers the same, within 1e-5.
    slow = c.endpoints.deploy("reviews-torch-ep", ref, serving={"onnx": False})
    assert (replica_runtime(fast), replica_runtime(slow)) == ("onnxruntime", "pytorch")
    for instances in (texts, texts[:1]):
        a = c.endpoints.invoke("reviews-ep", {"instances": instances})["predictions"]
        b = c.endpoints.invoke("reviews-torch-ep", {"instances": instances})["predictions"]
        assert [p["label"] for p in a] == [p["label"] for p in b]
        assert max(abs(p["probabilities"][k] - q["probabilities"][k]) for p, q in zip(a, b)
                   for k in p["probabilities"]) <= 1e-5
    # Turned off per model at registration: no export, and `models show` says so.
    plain = slipway(server, "models", "import", str(c.jobs.download("reviews-lstm", tmp_path / "again")),
                    "--name", "reviews-plain", "--no-onnx")
    assert plain.returncode == 0, plain.stderr
    assert "runtime: pytorch (ONNX turned off at registration" in slipway(server, "models", "show",
                                                                         "reviews-plain:1").stdout


def test_bad_built_in_jobs_are_refused_or_fail_clearly(c: Client, demo: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"The 'epochs' hyperparameter of image-classifier must be an int in "
                                              r"the range \[1, 1000\]. Got 0 instead."):
        c.jobs.create(algorithm="image-classifier", data={"train": "digits:1"}, hyperparameters={"epochs": 0})
    with pytest.raises(InvalidArgument, match="reviews:1 .* is text-folder. Use --algorithm sequence-classifier"):
        c.jobs.create(algorithm="image-classifier", data={"train": "reviews:1"})
    one = tmp_path / "one-class" / "positive"
    one.mkdir(parents=True)
    for i in range(3):
        (one / f"{i}.txt").write_text(f"great lamp number {i}")
    c.datasets.push("one-class", one.parent)
    with pytest.raises(InvalidArgument, match=r"one-class:1 has 1 class \('positive'\); sequence-classifier "
                                              "needs at least two"):
        c.jobs.create(algorithm="sequence-classifier", data={"train": "one-class:1"})
    # Without the pytorch extra where the job runs, the job says which extra to install.
    job = finished(c.jobs.create("no-torch-cnn", algorithm="image-classifier", data={"train": "digits:1"}))
    assert job.status == "Failed"
    assert "needs the 'pytorch' extra" in job.failure_reason and "pip install 'slipway[pytorch]'" in job.failure_reason


# -- script mode ----------------------------------------------------------------------------------


def write_idx(folder: Path, digits: tuple) -> Path:
    """MNIST's four IDX files (gzipped), holding scikit-learn's 8x8 digits scaled to 0-255."""
    folder.mkdir(parents=True)
    images = np.rint(digits[0] * 255 / 16).astype(np.uint8)
    labels = digits[1].astype(np.uint8)
    parts = {"train": slice(0, 1500), "t10k": slice(1500, None)}
    for prefix, part in parts.items():
        x, y = images[part], labels[part]
        header = bytes([0, 0, 0x08, 3]) + b"".join(int(d).to_bytes(4, "big") for d in x.shape)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + x.tobytes(), mtime=0))
        header = bytes([0, 0, 0x08, 1]) + len(y).to_bytes(4, "big")
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(header + y.tobytes(), mtime=0))
    return folder


@pytest.fixture(scope="module")
def mnist(c: Client, digits: tuple, tmp_path_factory: pytest.TempPathFactory) -> str:
    pushed = c.datasets.push("mnist", write_idx(tmp_path_factory.mktemp("idx") / "mnist", digits)).version
    assert pushed.format == "files" and pushed.rows == 4
    assert pushed.info["idx_shapes"]["train-images-idx3-ubyte.gz"] == [1500, 8, 8]
    return pushed.ref


READ_IDX = '''
def load(folder, prefix):
    def read(name):
        with gzip.open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(data[3])]
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)
    return read(f"{prefix}-images-idx3-ubyte.gz"), read(f"{prefix}-labels-idx1-ubyte.gz")
'''

KERAS_TRAIN = '''
import argparse, gzip, os
import numpy as np
import keras
from keras import layers
''' + READ_IDX + '''
if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--model_dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    args, _ = parser.parse_known_args()
    print("keras backend:", keras.backend.backend())
    x_train, y_train = load(args.train, "train")
    x_test, y_test = load(args.train, "t10k")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Rescaling(1 / 255),
        layers.Conv2D(16, 3, activation="relu", padding="same"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[..., None], y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    loss, accuracy = model.evaluate(x_test[..., None], y_test, verbose=0)
    print(f"test accuracy: {accuracy:.4f}")
    model.save(os.path.join(args.model_dir, "model.keras"))
'''


def test_keras_script_trains_on_idx_files_and_serves(server: SlipwayServer, c: Client, mnist: str, digits: tuple,
                                                     tmp_path: Path) -> None:
    src = tmp_path / "keras_src"
    src.mkdir()
    (src / "train.py").write_text(KERAS_TRAIN)
    job = c.jobs.create("keras-digits", script="train.py", source_dir=src, framework="keras",
                        data={"train": mnist}, hyperparameters={"epochs": 3},
                        metric_definitions={"test:accuracy": r"test accuracy: ([0-9.]+)"}).wait(timeout=240)
    assert job.status == "Completed", job.failure_reason
    assert "keras backend: torch" in "".join(job.logs())
    assert job.metrics["test:accuracy"] > 0.8
    ref = register(c, "keras-digits", "keras-digits", tmp_path)
    assert c.models.get(ref).framework == "keras"
    c.endpoints.deploy("keras-ep", ref)
    images, truth = np.rint(digits[0][1500:1520] * 255 / 16), digits[1][1500:1520]
    out = c.endpoints.invoke("keras-ep", {"instances": images.tolist()})["predictions"]
    assert set(out[0]) == {"label", "confidence", "probabilities"}
    assert sum(p["label"] == str(t) for p, t in zip(out, truth)) >= 16
    with pytest.raises(InvalidArgument, match=r"expects an image of shape \[8, 8\]"):
        c.endpoints.invoke("keras-ep", {"instances": [np.zeros((5, 5)).tolist()]})
    # The bare .keras file, imported with `slipway models import`, serves the same answers.
    bare = unpack(c.jobs.download("keras-digits", tmp_path / "bare"), tmp_path / "bare" / "model") / "model.keras"
    imported = slipway(server, "models", "import", str(bare), "--name", "keras-file", "--output", "json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["framework"] == "keras"
    c.endpoints.update("keras-ep", "keras-file:1")
    assert c.endpoints.invoke("keras-ep", {"instances": images.tolist()})["predictions"] == out

    # The same script where the keras extra is missing: the failure names the extra.
    failed = finished(c.jobs.create("no-keras-digits", script="train.py", source_dir=src, framework="keras",
                                    data={"train": mnist}))
    assert failed.status == "Failed"
    assert "the 'keras' extra is not installed" in failed.failure_reason
    assert "pip install 'slipway[keras]'" in failed.failure_reason
    assert "No module named 'keras'" in failed.failure_reason


TORCH_MODEL = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.layers = nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))

    def forward(self, x):
        return self.layers(x / 255.0)
'''

TORCH_TRAIN = '''
import argparse, gzip, json, os
import numpy as np
import torch
from model import Net
''' + READ_IDX + '''
if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--data-dir", type=str, default=os.environ["SM_CHANNEL_TRAINING"])
    parser.add_argument("--num-gpus", type=int, default=int(os.environ["SM_NUM_GPUS"]))
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y = load(args.data_dir, "train")
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.int64)
    model = Net(args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch} loss {loss.item():.4f}")
    with open(os.path.join(args.model_dir, "model.pth"), "wb") as f:
        torch.save(model.state_dict(), f)
    with open(os.path.join(args.model_dir, "config.json"), "w") as f:
        json.dump({"hidden": args.hidden}, f)
'''

TORCH_INFERENCE = '''
import json, os
import torch
from model import Net


def model_fn(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        model = Net(json.load(f)["hidden"])
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f, weights_only=True))
    return model.eval()
'''


def test_pytorch_script_trains_and_serves_with_its_model_fn(server: SlipwayServer, c: Client, mnist: str,
                                                           digits: tuple, tmp_path: Path) -> None:
    src = tmp_path / "torch_src"
    src.mkdir()
    for name, text in (("model.py", TORCH_MODEL), ("train.py", TORCH_TRAIN), ("inference.py", TORCH_INFERENCE)):
        (src / name).write_text(textwrap.dedent(text))
    job = c.jobs.create("torch-digits", script="train.py", source_dir=src, framework="pytorch",
                        data={"training": mnist}, hyperparameters={"epochs": 8, "lr": 0.01}).wait(timeout=240)
    assert job.status == "Completed", job.failure_reason
    ref = register(c, "torch-digits", "torch-digits", tmp_path)
    assert c.models.get(ref).framework == "pytorch"
    c.endpoints.deploy("torch-ep", ref)
    images, truth = np.rint(digits[0][1500:1520] * 255 / 16), digits[1][1500:1520]
    # SageMaker's default handlers: a JSON array in, the model's output (logits) out.
    logits = np.array(c.endpoints.invoke("torch-ep", images.tolist()))
    assert logits.shape == (20, 10) and (logits.argmax(axis=1) == truth).sum() >= 16
    with pytest.raises(InvalidArgument, match=r"The model rejected an input of shape \[1, 3\]"):
        c.endpoints.invoke("torch-ep", [[1, 2, 3]])
    # As SageMaker would get it: model.pth and code/inference.py (no slipway-model.json), via `models import`.
    folder = unpack(c.jobs.download("torch-digits", tmp_path / "sm"), tmp_path / "sm" / "model")
    (folder / "slipway-model.json").unlink()
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=child.name)
    imported = slipway(server, "models", "import", str(tmp_path / "model.tar.gz"), "--name", "torch-sm",
                       "--output", "json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["framework"] == "pytorch"
    c.endpoints.update("torch-ep", "torch-sm:1")
    np.testing.assert_allclose(c.endpoints.invoke("torch-ep", images.tolist()), logits, atol=1e-5)
