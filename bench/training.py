"""Training job benchmarks (run by hand; prints figures, asserts nothing).

    .venv/bin/python bench/training.py [--fit-seconds 10] [--starts 5]

1. Start latency: from submitting a script job (SDK call) to the first line of the user's
   script running, and from the create request alone. Target: < 0.5 s.
2. Overhead of a built-in job: the wall time of a random-forest job (submit to Completed, as
   the SDK sees it) against the same scikit-learn Pipeline fit called directly in-process on
   the same table, sized so the direct fit takes about --fit-seconds. Target: < 10 %.
3. Start overhead of the sandbox: the same script job on a server with sandbox "off" and one with
   "auto" (Landlock where the kernel has it), alternating, --sandbox-starts jobs each; plus the
   launcher alone (a confined `python -c pass` against a plain one).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchserver import start_server

from slipway.client import Client

SCRIPT = """import time
STARTED = time.time()
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "started"), "w").write(repr(STARTED))
print("STARTED", repr(STARTED), flush=True)
"""


def bench_start(c: Client, work: Path, n: int) -> None:
    src = work / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    total, create_only = [], []
    for i in range(n):
        t0 = time.time()
        job = c.jobs.create(f"start-{i}", script="train.py", source_dir=src)
        t1 = time.time()
        job.wait(timeout=60, poll=0.05)
        started = float("".join(job.logs()).split("STARTED ", 1)[1].split()[0])
        total.append(started - t0)
        create_only.append(started - t1)  # from the create request's answer
    print(f"start latency (SDK submit incl. source upload -> user code runs): median {statistics.median(total):.3f} s, "
          f"min {min(total):.3f} s, max {max(total):.3f} s over {n} jobs")
    print(f"start latency (job created -> user code runs): median {statistics.median(create_only):.3f} s")


def _started_after_create(c: Client, src: Path, name: str) -> float:
    job = c.jobs.create(name, script="train.py", source_dir=src)
    t1 = time.time()
    job.wait(timeout=60, poll=0.02)
    return float("".join(job.logs()).split("STARTED ", 1)[1].split()[0]) - t1


def bench_sandbox(work: Path, n: int) -> None:
    from slipway.sandbox import Sandbox

    src = work / "sandbox-src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    servers = {mode: start_server(work / f"home-{mode}", {"SLIPWAY_SANDBOX": mode}) for mode in ("off", "auto")}
    try:
        with Client(url=servers["off"][1], home=work / "home-off") as off, \
                Client(url=servers["auto"][1], home=work / "home-auto") as auto:
            mechanism = auto.status().sandbox
            times: dict[str, list[float]] = {"off": [], "auto": []}
            _started_after_create(off, src, "sandbox-warmup")
            _started_after_create(auto, src, "sandbox-warmup")
            for i in range(n):  # alternating, so that a busy moment of the machine hits both
                times["off"].append(_started_after_create(off, src, f"sandbox-{i}"))
                times["auto"].append(_started_after_create(auto, src, f"sandbox-{i}"))
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(30)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"sandbox: auto = {mechanism.message}")
    print(f"script job start (job created -> user code runs), median of {n}: sandbox off {med['off']:.0f} ms, "
          f"auto {med['auto']:.0f} ms, overhead {med['auto'] - med['off']:+.0f} ms")
    box = Sandbox(home=work / "home-auto")
    if box.active:
        def run(cmd: list[str]) -> float:
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            return time.perf_counter() - t0

        plain = [run([sys.executable, "-S", "-c", "pass"]) for _ in range(n)]
        t0 = time.perf_counter()
        wrapped_cmd = box.wrap([sys.executable, "-S", "-c", "pass"], write=[work])
        policy_ms = (time.perf_counter() - t0) * 1000
        confined = [run(wrapped_cmd) for _ in range(n)]
        print(f"launcher alone: python -S -c pass {statistics.median(plain) * 1000:.0f} ms plain, "
              f"{statistics.median(confined) * 1000:.0f} ms confined (median of {n}); building the policy "
              f"{policy_ms:.1f} ms")


def make_table(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20))
    y = np.where(X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(20)])
    df["label"] = y
    df.to_csv(path, index=False)


def direct_fit(path: Path, n_estimators: int) -> float:
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline

    from slipway.training.builtin import preprocessor

    df = pd.read_csv(path)
    X, y = df.drop(columns=["label"]), df["label"]
    model = Pipeline([("preprocess", preprocessor(X)),
                      ("rf", RandomForestClassifier(n_estimators=n_estimators, n_jobs=1, random_state=0))])
    t0 = time.perf_counter()
    model.fit(X, y)
    return time.perf_counter() - t0


def script_fit(path: Path, n_estimators: int) -> float:
    """The same fit as a user runs it by hand: a fresh Python that imports, reads the CSV and fits."""
    code = (f"from bench.training import direct_fit; from pathlib import Path; "
            f"direct_fit(Path({str(path)!r}), {n_estimators})")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - t0


def bench_overhead(c: Client, work: Path, fit_seconds: float) -> None:
    path = work / "table.csv"
    make_table(path, 20000)
    probe = direct_fit(path, 10)
    n = max(5, round(10 * fit_seconds / probe))
    direct = direct_fit(path, n)
    c.datasets.push("bench", path, label="label")
    runs = {}
    for label in ("cold", "warm"):
        # The first built-in job pays the imports and starts a spare process; the second takes that over.
        t0 = time.time()
        job = c.jobs.create(f"bench-rf-{label}", algorithm="random-forest", data={"train": "bench:1"},
                            hyperparameters={"n_estimators": n, "n_jobs": 1}).wait(timeout=600, poll=0.05)
        runs[label] = time.time() - t0
    print(f"built-in job wall time, first job (cold process): {runs['cold']:.2f} s; overhead "
          f"{runs['cold'] - direct:.2f} s = {100 * (runs['cold'] - direct) / direct:.1f} %")
    wall = runs["warm"]
    fitted = float("".join(job.logs()).split("Fitted in ", 1)[1].split()[0])
    print(f"direct fit ({n} trees, 20000 x 20): {direct:.2f} s; fit inside the job: {fitted:.2f} s")
    print(f"built-in job wall time, later jobs (warm process): {wall:.2f} s; overhead {wall - direct:.2f} s "
          f"= {100 * (wall - direct) / direct:.1f} % of the direct fit")
    script = script_fit(path, n)
    print(f"same fit as a standalone script (python start, imports, CSV read, fit): {script:.2f} s; job overhead "
          f"over it {wall - script:.2f} s = {100 * (wall - script) / script:.1f} %")
    print(f"  of which outside the fit: {wall - fitted:.2f} s (process start, imports, CSV read, evaluation, "
          "saving, upload)")
    for t in job.transitions:
        if t.end_time is not None:
            print(f"  {t.status:<12} {(t.end_time - t.start_time).total_seconds():6.2f} s")
    log = "".join(job.logs())
    print("  job log:\n    " + "\n    ".join(log.strip().splitlines()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit-seconds", type=float, default=10.0)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--sandbox-starts", type=int, default=10)
    parser.add_argument("--only-sandbox", action="store_true", help="Run the sandbox comparison alone.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-") as tmp:
        work = Path(tmp)
        if args.sandbox_starts:
            bench_sandbox(work, args.sandbox_starts)
        if args.only_sandbox:
            return
        proc, url = start_server(work / "home")
        try:
            with Client(url=url) as c:
                if args.starts:
                    bench_start(c, work, args.starts)
                bench_overhead(c, work, args.fit_seconds)
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
