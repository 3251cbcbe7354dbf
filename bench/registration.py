"""Model registration time (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/registration.py [--repeat 3]

Times ``Platform.registry.register`` — what `slipway models import` and `slipway models register JOB`
end in — for the models a user registers most: a built-in scikit-learn artifact (logistic regression
on the cancer data, with its ONNX export verified), a bare .joblib estimator (its signature inferred,
then exported) and a built-in PyTorch CNN (TorchScript, exported with torch.onnx and verified).
Each kind is registered once to warm up, then ``--repeat`` times, ``--pause`` seconds apart (a user's
registrations are spaced; the pause lets the inspector's spare process start); the median is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slipway.services import Platform  # noqa: E402
from slipway.settings import Settings  # noqa: E402
from tests.support.models import cancer_model, write_cancer_artifact  # noqa: E402


def cnn_artifact(folder: Path) -> Path:
    import numpy as np
    import torch

    from slipway.artifacts.flavors.torch_builtin import save_torch_artifact
    from slipway.training.torch_nets import ServingModel, build_network

    torch.manual_seed(0)
    hp = {"filters": 8, "kernel_size": 3, "dense_units": 32, "dropout": 0.25, "dense_dropout": 0.5,
          "activation": "relu"}
    net = build_network("image-classifier", hp, {"channels": 1, "height": 28, "width": 28}, 10)
    samples = np.random.default_rng(1).random((64, 28, 28, 1)).astype(np.float32) * 255
    return save_torch_artifact(
        folder, ServingModel(net, scale=255.0, mean=0.3, std=0.3, channels_last=True), samples,
        problem_type="multiclass_classification",
        signature={"input_kind": "image", "inputs": [], "input_shape": [28, 28],
                   "labels": [str(i) for i in range(10)]},
        preprocessing={"kind": "image", "input_shape": [28, 28], "value_range": [0.0, 255.0]},
    )


def joblib_file(path: Path) -> Path:
    import joblib

    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(cancer_model("lr"), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pause", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-registration-") as tmp:
        work = Path(tmp)
        platform = Platform(Settings.load(env={}, home=work / "home"))
        platform.migrate()
        kinds: list[tuple[str, Callable[[Path], Path]]] = [
            ("built-in scikit-learn (folder)", lambda p: write_cancer_artifact(p, samples=None)),
            ("scikit-learn .joblib", lambda p: joblib_file(p / "model.joblib")),
            ("built-in PyTorch CNN (folder)", cnn_artifact),
        ]
        print(f"{'model':34} {'first (s)':>10} {'median (s)':>11}  onnx")
        for i, (label, make) in enumerate(kinds):
            artifact = make(work / f"art{i}")
            times = []
            runtime = ""
            for n in range(args.repeat + 1):
                time.sleep(args.pause)
                t0 = time.perf_counter()
                v = platform.registry.register(f"m{i}", artifact, onnx=True)
                times.append(time.perf_counter() - t0)
                runtime = v.runtime
            print(f"{label:34} {times[0]:10.2f} {statistics.median(times[1:]):11.2f}  {runtime}")
        platform.close()


if __name__ == "__main__":
    main()
