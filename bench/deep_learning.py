"""Deep-learning built-ins on the demo data: validation accuracy, training time, single-input latency.

Run: `.venv/bin/python bench/deep_learning.py [--threads N] [--epochs-cnn 10] [--epochs-lstm 15]`.
Trains image-classifier on the digits image folder (8x8 PNGs) and sequence-classifier on
the reviews corpus with their default hyperparameters (epochs adjustable), then times one
request at a time through the loaded predictor (`load_predictor`), as a replica calls it.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from slipway.artifacts.loading import load_predictor
from slipway.demo import build_demo_files
from slipway.training.torch_train import train_builtin


def p50_ms(fn, inputs: list, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for item in inputs[:5]:
        fn([item])  # warm-up
    times = []
    for i in range(repeat):
        item = inputs[i % len(inputs)]
        start = time.perf_counter()
        fn([item])
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--epochs-cnn", type=int, default=10)
    parser.add_argument("--epochs-lstm", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=300, help="requests timed per model")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build_demo_files(root / "demo")
        rows = []

        cnn = train_builtin("image-classifier", root / "demo" / "digits", root / "cnn", {"epochs": args.epochs_cnn})
        predictor = load_predictor(root / "cnn")
        files = sorted((root / "demo" / "digits").glob("*/*.png"))[::17]
        from PIL import Image

        arrays = [np.asarray(Image.open(f), dtype=np.float32).tolist() for f in files]
        encoded = [base64.b64encode(f.read_bytes()).decode() for f in files]
        arr_p50, arr_p99 = p50_ms(predictor.predict, arrays, args.repeat)
        png_p50, png_p99 = p50_ms(predictor.predict, encoded, args.repeat)
        rows.append(("image-classifier (digits 8x8 PNG folder)", cnn, f"{arr_p50:.2f} / {arr_p99:.2f} (array), "
                     f"{png_p50:.2f} / {png_p99:.2f} (base64 PNG)"))

        lstm = train_builtin("sequence-classifier", root / "demo" / "reviews", root / "lstm",
                             {"epochs": args.epochs_lstm})
        predictor = load_predictor(root / "lstm")
        texts = [f.read_text() for f in sorted((root / "demo" / "reviews").glob("*/*.txt"))[::7]]
        txt_p50, txt_p99 = p50_ms(predictor.predict, texts, args.repeat)
        rows.append(("sequence-classifier (reviews text folder)", lstm, f"{txt_p50:.2f} / {txt_p99:.2f} (text)"))

    print(f"torch {torch.__version__}, {args.threads} thread(s), device {cnn.device}")
    print("| model | val. accuracy | epochs run (best) | training time | single-input latency p50 / p99, ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, result, latency in rows:
        print(f"| {name} | {result.metrics['validation:accuracy']:.3f} | {len(result.history)} "
              f"({result.best_epoch}) | {result.seconds:.1f} s | {latency} |")


if __name__ == "__main__":
    main()
