"""GPU check for the deep-learning built-ins (run by hand on a machine with CUDA): train there, serve on CPU.

Run: `python bench/deep_learning_gpu.py [--epochs-cnn 5] [--epochs-lstm 8]`. Needs numpy, torch, Pillow
and this repository only (no server). For each built-in (image-classifier on the demo digits,
sequence-classifier on the demo reviews) it:

1. trains with the default device choice and prints the device (``cuda`` when a GPU is visible),
   the validation accuracy and the time;
2. loads the artifact in a fresh process with ``CUDA_VISIBLE_DEVICES=""`` (a CPU-only replica) and in
   one that sees the GPU (as served, then with PyTorch's TF32 default back on), and compares their predictions on
   demo inputs: labels must be equal (else it exits 1); the largest probability difference is
   printed. A model trained on a GPU must serve on a machine without one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = """
import json, sys
from pathlib import Path
import torch
sys.path.insert(0, {root!r})
from slipway.artifacts.loading import load_predictor
inputs = json.loads(Path({inputs!r}).read_text())
predictor = load_predictor(Path({artifact!r}))
if {tf32!r}:  # PyTorch's default, which serving turns off
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cuda.matmul.allow_tf32 = True
out = predictor.predict(inputs)
print(json.dumps({{"cuda": torch.cuda.is_available(), "predictions": out}}, default=float))
"""


def predictions(artifact: Path, inputs_file: Path, cpu_only: bool, tf32: bool = False
                ) -> dict:  # type: ignore[type-arg]
    env = dict(os.environ)
    if cpu_only:
        env["CUDA_VISIBLE_DEVICES"] = ""
    code = CHILD.format(root=str(ROOT), inputs=str(inputs_file), artifact=str(artifact), tf32=tf32)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"serving {artifact.name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def compare(a: list, b: list) -> float:  # type: ignore[type-arg]
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        if x["label"] != y["label"]:
            raise SystemExit(f"labels differ: {x} vs {y}")
        for k, v in x["probabilities"].items():
            worst = max(worst, abs(float(v) - float(y["probabilities"][k])))
    return worst


def main() -> None:
    import numpy as np
    import torch
    from PIL import Image

    from slipway.demo import build_demo_files
    from slipway.training.torch_train import train_builtin

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs-cnn", type=int, default=5)
    ap.add_argument("--epochs-lstm", type=int, default=8)
    args = ap.parse_args()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()} ({gpu})")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_demo_files(root / "demo")
        digits = sorted((root / "demo" / "digits").glob("*/*.png"))[::9]
        reviews = sorted((root / "demo" / "reviews").glob("*/*.txt"))[::5]
        cases = [
            ("image-classifier", "digits", {"epochs": args.epochs_cnn},
             [np.asarray(Image.open(f), dtype=np.float32).tolist() for f in digits]),
            ("sequence-classifier", "reviews", {"epochs": args.epochs_lstm}, [f.read_text() for f in reviews]),
        ]
        print("| algorithm | trained on | val. accuracy | training time | inputs | labels CPU-only = GPU | "
              "max prob. diff, GPU as served | GPU, TF32 on |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for algorithm, data, hp, inputs in cases:
            t0 = time.perf_counter()
            result = train_builtin(algorithm, root / "demo" / data, root / algorithm, hp)
            took = time.perf_counter() - t0
            inputs_file = root / f"{algorithm}-inputs.json"
            inputs_file.write_text(json.dumps(inputs))
            cpu = predictions(root / algorithm, inputs_file, cpu_only=True)
            assert not cpu["cuda"], "the CPU-only process saw a GPU"
            here = predictions(root / algorithm, inputs_file, cpu_only=False)
            tf32 = predictions(root / algorithm, inputs_file, cpu_only=False, tf32=True)
            diff, diff_tf32 = compare(cpu["predictions"], here["predictions"]), \
                compare(cpu["predictions"], tf32["predictions"])
            print(f"| {algorithm} | {result.device} | {result.metrics['validation:accuracy']:.3f} | {took:.1f} s | "
                  f"{len(inputs)} | yes | {diff:.1e} | {diff_tf32:.1e} |", flush=True)


if __name__ == "__main__":
    main()
