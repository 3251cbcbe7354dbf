"""Deep learning through the platform: the built-ins as jobs, then single requests through their endpoints.

Run: `.venv/bin/python bench/deep_learning_endpoints.py [--cnn-epochs 5] [--lstm-epochs 3] [--requests 300]`.
Starts a server on a temporary home, pushes the demo digits (8x8 PNG folder) and reviews, runs
`image-classifier` (`--hp epochs=5 --hp batch_size=64`, as in the issue) and `sequence-classifier`
as real jobs, registers and deploys their models, and times one request at a time (keep-alive,
through the server's gateway `/endpoints/{name}/invocations`): an 8x8 pixel array, the same image as
a base64 PNG, one review. Job time is submit → Completed; training time the job's `Training` phase;
registration the `models import` call of the job's model.tar.gz (the ONNX export and its verification
happen there; the first PyTorch registration also imports torch into the server).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchserver import start_server  # noqa: E402

from slipway.client import Client  # noqa: E402
from slipway.demo import build_demo_files  # noqa: E402


def phase_seconds(view: Any, name: str) -> float:
    t = next(t for t in view.transitions if t.status == name)
    return (t.end_time - t.start_time).total_seconds()


def run_job(c: Client, name: str, algorithm: str, data: str, hps: dict[str, Any], work: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    job = c.jobs.create(name, algorithm=algorithm, data={"train": data}, hyperparameters=hps).wait(timeout=1800)
    wall = time.perf_counter() - t0
    tar = c.jobs.download(name, work)
    t0 = time.perf_counter()
    model = c.models.import_(tar, name)
    registration = time.perf_counter() - t0
    epochs = [p for p in job.metric_series().series["validation:accuracy"] if p.step is not None]
    return {"job": name, "model": model.ref, "accuracy": job.metrics["validation:accuracy"], "wall": wall,
            "training": phase_seconds(job.view, "Training"), "epochs": len(epochs), "registration": registration,
            "runtime": getattr(model, "runtime", "") or "?"}


def latency(c: Client, endpoint: str, bodies: list[bytes], n: int, direct: bool = False) -> tuple[float, float]:
    """p50 / p99 in ms through the gateway, or on the replica's own port with ``direct``."""
    import httpx

    if direct:
        http, path = httpx.Client(), c.endpoints.get(endpoint).replicas[0].url  # .../invocations
    else:
        http, path = c.endpoints._api.http, f"/endpoints/{endpoint}/invocations"  # the SDK's keep-alive client
    for body in bodies[:10]:  # warm-up
        http.post(path, content=body, headers={"Content-Type": "application/json"})
    times = []
    for i in range(n):
        body = bodies[i % len(bodies)]
        t = time.perf_counter()
        r = http.post(path, content=body, headers={"Content-Type": "application/json"})
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, r.text
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cnn-epochs", type=int, default=5)
    parser.add_argument("--lstm-epochs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        work = Path(tmp)
        build_demo_files(work / "demo")
        proc, url = start_server(work / "home")
        try:
            with Client(url=url, home=work / "home") as c:
                c.datasets.push("digits", work / "demo" / "digits")
                c.datasets.push("reviews", work / "demo" / "reviews")
                cnn = run_job(c, "digits-cnn", "image-classifier", "digits:1",
                              {"epochs": args.cnn_epochs, "batch_size": 64}, work)
                lstm = run_job(c, "reviews-lstm", "sequence-classifier", "reviews:1", {"epochs": args.lstm_epochs},
                               work)
                t0 = time.perf_counter()
                c.endpoints.deploy("digits-ep", cnn["model"])
                cold_cnn = time.perf_counter() - t0
                c.endpoints.deploy("reviews-ep", lstm["model"])
                files = sorted((work / "demo" / "digits").glob("*/*.png"))[::17]
                arrays = [json.dumps({"instances": [np.asarray(Image.open(f)).tolist()]}).encode() for f in files]
                pngs = [json.dumps({"instances": [base64.b64encode(f.read_bytes()).decode()]}).encode()
                        for f in files]
                texts = [json.dumps({"instances": [f.read_text()]}).encode()
                         for f in sorted((work / "demo" / "reviews").glob("*/*.txt"))[::7]]
                n = args.requests
                rows = [
                    ("image-classifier CNN, digits 8x8 (epochs=%d, batch_size=64)" % args.cnn_epochs, cnn,
                     "array %.1f / %.1f (replica port %.1f / %.1f); base64 PNG %.1f / %.1f" % (
                         *latency(c, "digits-ep", arrays, n), *latency(c, "digits-ep", arrays, n, direct=True),
                         *latency(c, "digits-ep", pngs, n))),
                    ("sequence-classifier LSTM, reviews (epochs=%d)" % args.lstm_epochs, lstm,
                     "text %.1f / %.1f (replica port %.1f / %.1f)" % (
                         *latency(c, "reviews-ep", texts, n), *latency(c, "reviews-ep", texts, n, direct=True))),
                ]
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"{os.cpu_count()} cores; {args.requests} sequential requests per input through the gateway; "
          f"CNN cold start (deploy → InService) {cold_cnn:.1f} s")
    print("| job | val. accuracy | epochs | job wall time (training phase) | registration (runtime) "
          "| latency p50 / p99, ms |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r, lat in rows:
        print(f"| {name} | {r['accuracy']:.3f} | {r['epochs']} | {r['wall']:.1f} s ({r['training']:.1f} s) "
              f"| {r['registration']:.2f} s ({r['runtime']}) | {lat} |")


if __name__ == "__main__":
    main()
