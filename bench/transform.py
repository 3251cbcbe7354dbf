"""Batch transform throughput (run by hand, prints a table): `python bench/transform.py [--rows 100000]`.

100,000 rows (default) of breast-cancer features (the 569 rows of scikit-learn's data set resampled with
1 % noise, seeded) and M2, a 100-tree random forest. Two figures, rows per second:

- in process: ``predict_proba`` on the same model in batches of ``--batch`` rows (the baseline),
- ``slipway transform``: a real server on a temporary home, the dataset pushed and the model imported,
  then a transform job with ``--batch`` rows per request and ``--parallel`` requests in flight, timed from
  the job's start (replica start included, and separately without it: first request to last) to the
  output dataset version, as the job records it. The goal is at least 70 % of the in-process rate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--trees", type=int, default=100)
    args = ap.parse_args()

    import numpy as np
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    from slipway.artifacts.flavors.sklearn import save_sklearn_artifact
    from slipway.client import Client
    from tests.support.servers import SlipwayServer

    b = load_breast_cancer()
    names = [n.replace(" ", "_") for n in b.feature_names]
    X0 = pd.DataFrame(b.data, columns=names)
    y0 = [str(b.target_names[i]) for i in b.target]
    model = RandomForestClassifier(n_estimators=args.trees, random_state=0, n_jobs=1).fit(X0, y0)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(X0), args.rows)
    X = pd.DataFrame(X0.to_numpy()[idx] * rng.normal(1.0, 0.01, (args.rows, X0.shape[1])), columns=names)

    # In process, batches of the same size.
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(X), args.batch):
        model.predict_proba(X.iloc[start:start + args.batch])
    local_s, local_cpu = time.perf_counter() - t0, time.process_time() - c0

    with tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp_name:
        tmp = Path(tmp_name)
        X.to_csv(tmp / "rows.csv", index=False)
        save_sklearn_artifact(model, tmp / "m2")
        srv = SlipwayServer(tmp / "home", extra_args=["--log-level", "info"]).start()  # the job's step times
        try:
            with Client(url=srv.url, home=srv.home) as c:
                c.models.import_(tmp / "m2", "m2")
                c.datasets.push("rows", tmp / "rows.csv")
                mv = c.models.get("m2:1")
                runtime = f"{mv.runtime} ({mv.runtime_reason})" if mv.runtime_reason else mv.runtime
                import psutil

                proc = psutil.Process(srv.proc.pid)  # type: ignore[union-attr]
                before = proc.cpu_times()
                # The server's child processes (the job's replica, forked from a warm spare or started): CPU seen
                # last, less what those already running before the job (the spare) had used by then.
                replicas: dict[int, float] = {}
                sampling = threading.Event()

                def cpu_of_children() -> dict[int, float]:
                    seen = {}
                    for child in proc.children(recursive=True):
                        try:
                            t = child.cpu_times()
                            seen[child.pid] = t.user + t.system
                        except psutil.Error:
                            pass
                    return seen

                earlier = cpu_of_children()

                def sample() -> None:
                    while not sampling.wait(0.2):
                        replicas.update(cpu_of_children())

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                t1, c1 = time.perf_counter(), time.process_time()
                job = c.transforms.create("bench", "m2:1", "rows:1", "preds", batch=args.batch, parallel=args.parallel,
                                          wait=True, timeout=3600)
                wall, caller_cpu = time.perf_counter() - t1, time.process_time() - c1
                after = proc.cpu_times()
                sampling.set()
                sampler.join()
                server_cpu = after.user + after.system - before.user - before.system
                # up to the last sample (0.2 s before the replica stopped)
                replica_cpu = sum(v - earlier.get(pid, 0.0) for pid, v in replicas.items())
                assert job.status == "Completed", job.failure_reason
                job_s = (job.finished_at - job.started_at).total_seconds()  # type: ignore[operator]
        finally:
            srv.stop()
            full = srv.log_path.read_text(errors="replace")  # (srv.log() is its last few kB)
            steps = [line for line in full.splitlines() if "Transform bench:" in line]

    load = os.getloadavg()
    print(f"Batch transform: {args.rows} rows, {args.trees}-tree random forest (M2), batch {args.batch}, parallel "
          f"{args.parallel}; {os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")
    if runtime:
        print(f"served by: {runtime}")
    for line in steps:
        print(line[line.index("Transform bench:"):])
    print()
    print(f"CPU seconds: in process {local_cpu:.2f}; transform: server {server_cpu:.2f}, replica {replica_cpu:.2f}, "
          f"caller {caller_cpu:.2f}, all {server_cpu + replica_cpu:.2f} "
          f"({args.rows / max(1e-9, server_cpu + replica_cpu) / (args.rows / local_cpu):.0%} of in process per CPU-second)")
    print()
    print("| path | seconds | rows/s | vs in-process |\n| --- | ---: | ---: | ---: |")
    base = args.rows / local_s
    print(f"| in process, predict_proba in batches of {args.batch} | {local_s:.2f} | {base:,.0f} | 100 % |")
    import re

    for line in steps:
        m = re.search(r"requests ([0-9.]+) s", line)
        if m:
            s = float(m.group(1))
            print(f"| transform, its requests only (first to last; {args.batch}-row batches to the replica) | {s:.2f} | "
                  f"{args.rows / s:,.0f} | {args.rows / s / base:.0%} |")
    for label, s in (("transform job (start to output version, replica start included)", job_s),
                     ("transform, as the caller waits (create to Completed)", wall)):
        print(f"| {label} | {s:.2f} | {args.rows / s:,.0f} | {args.rows / s / base:.0%} |")


if __name__ == "__main__":
    main()
