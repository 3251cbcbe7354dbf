"""Bayesian vs random search, and trial compute with and without Hyperband, on one fixed problem.

    .venv/bin/python bench/tuning.py [--trials 20] [--seeds 3]

The search runs through Slipway's own tuning driver (Optuna samplers and pruners, RDB storage in
a SQLite file) exactly as a tuning job does; each trial is a real scikit-learn fit, run in this
process so the figures measure the search and not the job machinery: a histogram gradient-boosting
classifier grown in 8 warm-start stages (like the built-in), reporting validation ROC AUC after
each stage. Compute is the CPU time of the fits and the number of stages trained.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slipway.tuning.driver import TrialStatus, TuningConfig, TuningDriver, open_storage  # noqa: E402
from slipway.tuning.space import parse_ranges  # noqa: E402

STAGES = 8
ITERS = 160
SPACE = ["learning_rate=0.005:0.5:log", "max_leaf_nodes=4:64:int:log", "l2_regularization=1e-6:10:log",
         "min_samples_leaf=2:100:int:log"]


def problem() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    X, y = make_classification(n_samples=4000, n_features=20, n_informative=6, n_redundant=4, flip_y=0.08,
                               class_sep=0.8, random_state=0)
    return train_test_split(X, y, test_size=0.3, random_state=0)


class FitBackend:
    """A trial trains one more stage each time it is polled, so the pruner can stop it between stages."""

    def __init__(self, data: tuple[Any, Any, Any, Any]) -> None:
        self.X_train, self.X_val, self.y_train, self.y_val = data
        self.trials: dict[str, dict[str, Any]] = {}
        self.cpu = 0.0
        self.stages = 0

    def launch(self, tuning_name: str, number: int, params: dict[str, Any]) -> str:
        from sklearn.ensemble import HistGradientBoostingClassifier

        name = f"{tuning_name}-{number:03d}"
        model = HistGradientBoostingClassifier(max_iter=1, warm_start=True, early_stopping=False,
                                               random_state=0, **params)
        self.trials[name] = {"model": model, "stage": 0, "history": [], "stopped": False}
        return name

    def poll(self, job: str, objective: str) -> TrialStatus:
        from sklearn.metrics import roc_auc_score

        t = self.trials[job]
        if t["stopped"]:
            return TrialStatus("stopped", t["history"])
        t["stage"] += 1
        started = time.process_time()
        t["model"].set_params(max_iter=ITERS * t["stage"] // STAGES)
        t["model"].fit(self.X_train, self.y_train)
        auc = float(roc_auc_score(self.y_val, t["model"].predict_proba(self.X_val)[:, 1]))
        self.cpu += time.process_time() - started
        self.stages += 1
        t["history"].append((t["stage"], auc))
        if t["stage"] < STAGES:
            return TrialStatus("running", list(t["history"]))
        return TrialStatus("completed", list(t["history"]), {objective: auc})

    def stop(self, job: str) -> None:
        self.trials[job]["stopped"] = True


def run(data: Any, workdir: Path, strategy: str, seed: int, trials: int, early: str) -> dict[str, Any]:
    storage = open_storage(f"sqlite:///{workdir / f'{strategy}-{early}-{seed}.db'}")
    backend = FitBackend(data)
    config = TuningConfig(name="bench", space=parse_ranges(SPACE), objective="validation:roc_auc", maximize=True,
                          strategy=strategy, max_trials=trials, max_parallel=1, early_stopping=early, seed=seed,
                          max_resource=STAGES)
    driver = TuningDriver(config, storage, backend)
    while not driver.step().done:
        pass
    rows = sorted(driver.trials(), key=lambda r: r["number"])
    best_so_far, curve = float("-inf"), []
    for r in rows:
        if r["status"] == "Completed" and r["objective"] is not None:
            best_so_far = max(best_so_far, r["objective"])
        curve.append(best_so_far)
    return {"curve": curve, "cpu": backend.cpu, "stages": backend.stages,
            "pruned": sum(r["status"] == "Pruned" for r in rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    data = problem()
    seeds = list(range(args.seeds))
    marks = sorted({max(1, args.trials // 4), args.trials // 2, args.trials})
    with tempfile.TemporaryDirectory(prefix="slipway-bench-tuning-") as tmp:
        work = Path(tmp)
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for strategy, early in (("random", "none"), ("bayesian", "none"), ("bayesian", "hyperband")):
            results[(strategy, early)] = [run(data, work, strategy, s, args.trials, early) for s in seeds]
            print(f"  done {strategy}/{early}", file=sys.stderr)
    load = os.getloadavg()[0]
    print(f"Problem: HistGradientBoosting on make_classification (4000x20), {ITERS} iterations in {STAGES} stages; "
          f"objective validation ROC AUC; {len(seeds)} seeds; machine load {load:.1f} on {os.cpu_count()} cores\n")
    print("Best objective after N trials (mean over seeds, min-max):")
    print(f"{'strategy':<22}" + "".join(f"{'N=' + str(m):>25}" for m in marks))
    for key, runs in results.items():
        cells = []
        for m in marks:
            vals = [r["curve"][m - 1] for r in runs]
            cells.append(f"{statistics.mean(vals):.4f} ({min(vals):.4f}-{max(vals):.4f})")
        print(f"{key[0] + ' / ' + key[1]:<22}" + "".join(f"{c:>25}" for c in cells))
    print("\nTrial compute (bayesian, mean over seeds):")
    print(f"{'early stopping':<16}{'stages trained':>16}{'fit CPU s':>12}{'pruned trials':>15}{'best':>10}")
    for early in ("none", "hyperband"):
        runs = results[("bayesian", early)]
        print(f"{early:<16}{statistics.mean(r['stages'] for r in runs):>16.1f}"
              f"{statistics.mean(r['cpu'] for r in runs):>12.1f}{statistics.mean(r['pruned'] for r in runs):>15.1f}"
              f"{statistics.mean(r['curve'][-1] for r in runs):>10.4f}")


if __name__ == "__main__":
    main()
