"""20 tuning trials on Ray vs the local executor: wall time of the same tuning job, and the ratio.

    .venv/bin/python bench/tuning_ray.py [--trials 20] [--parallel 2] [--cpus 2]

Starts a local Ray head (``ray start --head`` with ``--cpus`` CPUs, in its own temporary folder)
and two servers on fresh homes: one with ``compute_url = local`` and ``job_concurrency = --parallel``,
one with ``compute_url`` the head's address. Each runs the same script-mode tuning job (a
scikit-learn gradient-boosting fit of a few seconds per trial, ``max_parallel = --parallel``).
Prints the wall time of each (create → Completed), the ratio local / Ray and the load average.
On one machine the cluster has no more cores than the local executor, so the ratio shows Ray's
overhead per trial (actor placement, shipping the folder, the guard) rather than a speed-up;
with real nodes the trials spread over their CPUs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchserver import start_server  # noqa: E402
from tests.support.raycluster import RayCluster  # noqa: E402

SCRIPT = '''
import argparse, os
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per trial, as the executors count
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score
import slipway

p = argparse.ArgumentParser()
p.add_argument("--learning_rate", type=float, default=0.1)
a, _ = p.parse_known_args()
X, y = make_classification(n_samples=2000, n_features=20, random_state=0)
score = cross_val_score(HistGradientBoostingClassifier(learning_rate=a.learning_rate, max_iter=20), X, y, cv=3).mean()
slipway.log_metric("cv_accuracy", float(score))
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write(str(score))
'''


def run_tuning(url: str, home: Path, src: Path, trials: int, parallel: int) -> float:
    from slipway.client import Client

    with Client(url=url, home=home) as c:
        job = c.jobs.build_request("bench", script="train.py", source_dir=src, framework="sklearn")
        started = time.monotonic()
        t = c.tuning.create("bench", job=job, objective="cv_accuracy", maximize=True, strategy="random",
                            ranges=["learning_rate=0.01:0.5:log"], max_trials=trials, max_parallel=parallel, seed=1)
        t.wait(timeout=3600)
        wall = time.monotonic() - started
        v = t.view
        if v.status != "Completed":
            raise SystemExit(f"tuning on {url} ended {v.status}: {v.failure_reason}")
        return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers and the cluster on the way out
    tmp = Path(tempfile.mkdtemp(prefix="bench-tuning-ray-"))
    src = tmp / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    cluster = RayCluster(tmp / "ray", num_cpus=args.cpus).start()
    procs = []
    try:
        local_proc, local_url = start_server(tmp / "local", {"SLIPWAY_JOB_CONCURRENCY": str(args.parallel)})
        procs.append(local_proc)
        ray_proc, ray_url = start_server(tmp / "ray-home", {"SLIPWAY_COMPUTE_URL": cluster.address,
                                                            "SLIPWAY_JOB_CONCURRENCY": str(args.parallel)})
        procs.append(ray_proc)
        load_before = os.getloadavg()
        local = run_tuning(local_url, tmp / "local", src, args.trials, args.parallel)
        on_ray = run_tuning(ray_url, tmp / "ray-home", src, args.trials, args.parallel)
        load_after = os.getloadavg()
    finally:
        for p in procs:
            p.terminate()
            p.wait(30)
        cluster.stop()
    print(f"{args.trials} trials, {args.parallel} at a time, Ray head with {args.cpus} CPUs, "
          f"{os.cpu_count()} cores on this machine")
    print(f"{'executor':<10} {'wall s':>8} {'s/trial':>8}")
    print(f"{'local':<10} {local:8.1f} {local / args.trials:8.2f}")
    print(f"{'ray':<10} {on_ray:8.1f} {on_ray / args.trials:8.2f}")
    print(f"speed-up local/ray: {local / on_ray:.2f}x  (load average 1 min before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f})")


if __name__ == "__main__":
    main()
