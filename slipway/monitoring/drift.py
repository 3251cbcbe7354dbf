"""Training baselines and drift statistics, with numpy and scipy only.

A baseline is a pair of documents in SageMaker Model Monitor's shapes: ``statistics.json`` (per feature:
count, missing, mean, std, min, max, and a distribution: ten quantile buckets for numbers, categories
with their counts for strings) and ``constraints.json`` (inferred type, completeness, domains). Live
inputs (the captured requests of a window) are compared against it feature by feature:

- numeric: population stability index (PSI) on the baseline's quantile buckets (the outer buckets open
  to infinity); Kolmogorov-Smirnov's statistic on the same bucket edges (the largest distance between
  the two cumulative shares at an edge, which is the exact KS statistic evaluated at those points);
- categorical: Jensen-Shannon distance (base 2, in [0, 1]) and chi-square's p-value;
- data quality, as Model Monitor's constraint violations: ``missing_column``, ``data_type_check``
  (numbers expected, something else seen), ``baseline_drift_check`` (new categories), ``completeness_check``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["BINS", "CATEGORICAL_STATISTICS", "DEFAULT_THRESHOLDS", "NUMERIC_STATISTICS", "STATISTICS", "compare",
           "compute_baseline", "rows_from_records"]

BINS = 10
EPS = 1e-4  # an empty bucket's share in PSI (as most PSI implementations do)
MAX_CATEGORIES = 1000  # categories kept in a baseline at most (the rest counted as "__other__")
# Statistic -> (default threshold, drifted when the value is above it (True) or below it (False)).
STATISTICS: dict[str, tuple[float, bool]] = {"psi": (0.2, True), "ks": (0.3, True), "js": (0.1, True),
                                             "chi2_p": (0.01, False)}
DEFAULT_THRESHOLDS = {k: v[0] for k, v in STATISTICS.items()}
COMPLETENESS_TOLERANCE = 0.05


# The statistics that apply to a feature, by its primary statistic (numbers: psi; categories: js).
_STATS_OF = {"psi": ("psi", "ks"), "js": ("js", "chi2_p")}
NUMERIC_STATISTICS, CATEGORICAL_STATISTICS = _STATS_OF["psi"], _STATS_OF["js"]


def _source(stat: str, own: dict[str, float], monitor_wide: dict[str, float]) -> str:
    """Where a feature's threshold for ``stat`` comes from: ``feature``, ``monitor`` or ``default``."""
    return "feature" if stat in own else "monitor" if stat in monitor_wide else "default"


# -- baselines ---------------------------------------------------------------------------------------

def _as_number(v: Any) -> float | None:
    """A float for a number (or a numeric string); None for missing; NaN marks 'not a number'."""
    if v is None:
        return None
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and math.isnan(v) else float(v)
    if isinstance(v, str):
        if v.strip() == "":
            return None
        try:
            f = float(v)
        except ValueError:
            return math.nan
        return None if math.isnan(f) else f
    return math.nan


def _is_numeric_column(values: Sequence[Any]) -> bool:
    seen = [_as_number(v) for v in values]
    present = [f for f in seen if f is not None]
    return bool(present) and not any(math.isnan(f) for f in present)


def compute_baseline(columns: dict[str, Sequence[Any]], total_rows: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(statistics.json, constraints.json) of a table given as column name -> values (one pass per column)."""
    features: list[dict[str, Any]] = []
    constraints: list[dict[str, Any]] = []
    n = max((len(v) for v in columns.values()), default=0)
    for name, values in columns.items():
        if _is_numeric_column(values):
            arr = np.array([_as_number(v) for v in values], dtype=float)  # None -> nan
            present = arr[~np.isnan(arr)]
            integral = bool(np.all(present == np.round(present)))
            edges = np.unique(np.quantile(present, np.linspace(0, 1, BINS + 1)))
            if len(edges) == 1:
                edges = np.array([edges[0], edges[0]])
            counts = _bucket_counts(present, edges)
            buckets = [{"lower_bound": float(lo), "upper_bound": float(hi), "count": float(c)}
                       for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)]
            kind = "Integral" if integral else "Fractional"
            features.append({
                "name": name, "inferred_type": kind,
                "numerical_statistics": {
                    "common": {"num_present": int(len(present)), "num_missing": int(len(arr) - len(present))},
                    "mean": float(present.mean()), "sum": float(present.sum()), "std_dev": float(present.std()),
                    "min": float(present.min()), "max": float(present.max()),
                    "distribution": {"kll": {"buckets": buckets}},
                }})
            constraints.append({"name": name, "inferred_type": kind,
                                "completeness": _ratio(len(present), len(arr)),
                                "num_constraints": {"is_non_negative": bool(present.min() >= 0)}})
        else:
            present_s = [str(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))
                         and str(v) != ""]
            freq = Counter(present_s)
            top = freq.most_common(MAX_CATEGORIES)
            other = len(present_s) - sum(c for _, c in top)
            cats = [{"value": k, "count": float(c)} for k, c in top] + (
                [{"value": "__other__", "count": float(other)}] if other else [])
            features.append({
                "name": name, "inferred_type": "String",
                "string_statistics": {
                    "common": {"num_present": len(present_s), "num_missing": len(values) - len(present_s)},
                    "distinct_count": float(len(freq)),
                    "distribution": {"categorical": {"buckets": cats}},
                }})
            constraints.append({"name": name, "inferred_type": "String",
                                "completeness": _ratio(len(present_s), len(values)),
                                "string_constraints": {"domains": [k for k, _ in top]}})
    statistics = {"version": 0.0, "dataset": {"item_count": n, "total_rows": total_rows if total_rows else n},
                  "features": features}
    constraint_doc = {"version": 0.0, "features": constraints, "monitoring_config": {
        "evaluate_constraints": "Enabled", "emit_metrics": "Enabled", "datatype_check_threshold": 1.0,
        "domain_content_threshold": 1.0,
        "distribution_constraints": {"perform_comparison": "Enabled", "comparison_threshold": DEFAULT_THRESHOLDS["psi"],
                                     "comparison_method": "PSI"}}}
    return statistics, constraint_doc


def _ratio(a: int, b: int) -> float:
    return round(a / b, 6) if b else 0.0


def _bucket_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bucket [e0, e1), …, [e_{k-1}, e_k], the outer buckets open to ±infinity."""
    inner = edges[1:-1]
    idx = np.searchsorted(inner, values, side="right")
    return np.bincount(idx, minlength=len(edges) - 1).astype(float)


# -- live inputs -------------------------------------------------------------------------------------

def rows_from_records(records: Iterable[dict[str, Any]], features: Sequence[str]) -> tuple[list[dict[str, Any]], int]:
    """Instances of captured requests as dicts (feature -> value), and how many requests could not be read.

    A request body is JSON (``{"instances": [...]}``, ``{"inputs": …}``, a list of rows, one row) or CSV
    (no header). A row that is a list is read in the baseline's feature order; a dict by name.
    """
    import csv
    import io

    import orjson

    rows: list[dict[str, Any]] = []
    unreadable = 0
    for record in records:
        part = (record.get("captureData") or {}).get("endpointInput") or {}
        data = part.get("data") or ""
        if part.get("truncated"):
            unreadable += 1
            continue
        try:
            if part.get("encoding") == "CSV":
                items: list[Any] = [r for r in csv.reader(io.StringIO(data)) if r]
            elif part.get("encoding") == "JSON":
                body = orjson.loads(data)
                if isinstance(body, dict):
                    body = body.get("instances", body.get("inputs", body.get("data", body)))
                items = body if isinstance(body, list) and body and isinstance(body[0], (list, dict)) else [body]
            else:
                unreadable += 1
                continue
        except (orjson.JSONDecodeError, csv.Error, IndexError):
            unreadable += 1
            continue
        for item in items:
            if isinstance(item, dict):
                rows.append(item)
            elif isinstance(item, list):
                rows.append(dict(zip(features, item, strict=False)))
            else:
                unreadable += 1
    return rows, unreadable


# -- comparing ---------------------------------------------------------------------------------------

def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected / max(expected.sum(), 1.0), EPS)
    a = np.maximum(actual / max(actual.sum(), 1.0), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def compare(statistics: dict[str, Any], constraints: dict[str, Any], rows: Sequence[dict[str, Any]],
            thresholds: dict[str, float] | None = None) -> dict[str, Any]:
    """Per feature: statistics against the baseline and a verdict; plus data-quality violations.

    ``thresholds``: statistic -> threshold (``psi`` 0.2, ``ks`` 0.3, ``js`` 0.1, ``chi2_p`` 0.01 by default),
    for every feature (``"psi"``) or for one (``"mean_radius:psi"``, which wins over the monitor-wide one);
    a feature drifts when its primary statistic (PSI for numbers, JS for categories) crosses its threshold,
    or another statistic named in ``thresholds`` (for all features or for this one) does.
    """
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chisquare

    given = thresholds or {}
    monitor_wide = {k: v for k, v in given.items() if ":" not in k}
    per_feature: dict[str, dict[str, float]] = {}
    for key, value in given.items():
        if ":" in key:
            feature, _, stat = key.rpartition(":")
            per_feature.setdefault(feature, {})[stat] = value
    completeness = {c["name"]: c.get("completeness", 1.0) for c in constraints.get("features", [])}
    features: list[dict[str, Any]] = []
    violations: list[dict[str, str]] = []
    n = len(rows)
    for f in statistics.get("features", []):
        name = f["name"]
        own = per_feature.get(name, {})
        limits = {**DEFAULT_THRESHOLDS, **monitor_wide, **own}
        explicit = set(monitor_wide) | set(own)
        raw = [r.get(name) for r in rows if name in r]
        if n and not raw:
            violations.append({"feature_name": name, "constraint_check_type": "missing_column",
                               "description": f"Column {name!r} is in the baseline but in none of {n} rows."})
        present = [v for v in raw if v is not None and v != ""]
        comp = _ratio(len(present), n) if n else None
        row: dict[str, Any] = {"name": name, "type": f["inferred_type"], "count": len(present),
                               "completeness": comp, "statistics": {}, "drifted": False, "drifted_by": []}
        if comp is not None and raw and comp < completeness.get(name, 1.0) - COMPLETENESS_TOLERANCE:
            violations.append({"feature_name": name, "constraint_check_type": "completeness_check",
                               "description": f"Completeness {comp:.3f} is below the baseline's "
                                              f"{completeness.get(name, 1.0):.3f}."})
        if "numerical_statistics" in f:
            nums = [_as_number(v) for v in present]
            bad = sum(1 for x in nums if x is not None and math.isnan(x))
            if bad:
                violations.append({"feature_name": name, "constraint_check_type": "data_type_check",
                                   "description": f"{bad} of {len(nums)} values are not numbers; expected "
                                                  f"{f['inferred_type']}."})
            values = np.array([x for x in nums if x is not None and not math.isnan(x)], dtype=float)
            buckets = f["numerical_statistics"]["distribution"]["kll"]["buckets"]
            edges = np.array([buckets[0]["lower_bound"]] + [b["upper_bound"] for b in buckets])
            expected = np.array([b["count"] for b in buckets], dtype=float)
            if len(values):
                actual = _bucket_counts(values, edges)
                cum_e = np.cumsum(expected) / max(expected.sum(), 1.0)
                cum_a = np.cumsum(actual) / len(values)
                row["statistics"] = {"psi": round(psi(expected, actual), 6),
                                     "ks": round(float(np.max(np.abs(cum_e - cum_a))), 6),
                                     "mean": round(float(values.mean()), 6)}
                row["live_buckets"] = actual.tolist()
            primary = "psi"
        else:
            cats = f["string_statistics"]["distribution"]["categorical"]["buckets"]
            base = {b["value"]: b["count"] for b in cats}
            live = Counter(str(v) for v in present)
            new = sorted(set(live) - set(base))
            if new and "__other__" not in base:
                violations.append({"feature_name": name, "constraint_check_type": "baseline_drift_check",
                                   "description": f"New categories not in the baseline: {', '.join(new[:10])}"
                                                  + (" …" if len(new) > 10 else "")})
            if live:
                keys = sorted(set(base) | set(live))
                e = np.array([base.get(k, 0.0) for k in keys], dtype=float)
                a = np.array([live.get(k, 0) for k in keys], dtype=float)
                js = float(jensenshannon(e / e.sum(), a / a.sum(), base=2)) if e.sum() else 1.0
                exp = np.maximum(e / max(e.sum(), 1.0), EPS)
                exp = exp / exp.sum() * a.sum()
                p = float(chisquare(a, exp).pvalue) if len(keys) > 1 else 1.0
                row["statistics"] = {"js": round(0.0 if math.isnan(js) else js, 6), "chi2_p": round(p, 6)}
                row["live_categories"] = dict(live.most_common(50))
            primary = "js"
        stats = row["statistics"]
        row["threshold"] = {"statistic": primary, "value": limits[primary], "source": _source(primary, own,
                                                                                             monitor_wide)}
        judged = [primary, *sorted(k for k in explicit if k != primary and k in _STATS_OF[primary])]
        row["thresholds"] = {k: limits[k] for k in judged}
        for stat, value in stats.items():
            if stat not in judged:
                continue
            above = STATISTICS[stat][1]
            if (value >= limits[stat]) if above else (value < limits[stat]):
                row["drifted_by"].append(stat)
        row["drifted"] = bool(row["drifted_by"])
        features.append(row)
    return {"rows": n, "features": features, "violations": violations,
            "drifted_features": [r["name"] for r in features if r["drifted"]]}
