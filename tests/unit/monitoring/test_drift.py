"""Baselines in Model Monitor's shapes and the drift statistics against them (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
import orjson

from slipway.monitoring.drift import compare, compute_baseline, rows_from_records


def _data(n: int, seed: int, shift: float = 0.0) -> dict[str, list[object]]:
    rng = np.random.default_rng(seed)
    return {"x": (rng.normal(0, 1, n) + shift).tolist(), "y": rng.uniform(0, 10, n).tolist(),
            "k": rng.integers(0, 100, n).tolist(), "color": rng.choice(["red", "green", "blue"], n).tolist()}


def _rows(cols: dict[str, list[object]]) -> list[dict[str, object]]:
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def test_baseline_has_model_monitor_shapes_and_ten_quantile_buckets() -> None:
    cols = _data(1000, 0)
    cols["x"][3] = None
    stats, cons = compute_baseline(cols)
    by = {f["name"]: f for f in stats["features"]}
    assert stats["dataset"]["item_count"] == 1000
    x = by["x"]["numerical_statistics"]
    assert by["x"]["inferred_type"] == "Fractional" and by["k"]["inferred_type"] == "Integral"
    assert x["common"] == {"num_present": 999, "num_missing": 1}
    buckets = x["distribution"]["kll"]["buckets"]
    assert len(buckets) == 10 and buckets[0]["lower_bound"] == x["min"] and buckets[-1]["upper_bound"] == x["max"]
    assert sum(b["count"] for b in buckets) == 999
    assert all(80 <= b["count"] <= 120 for b in buckets)  # quantile buckets hold about a tenth each
    color = by["color"]["string_statistics"]
    assert by["color"]["inferred_type"] == "String" and color["distinct_count"] == 3
    assert sorted(b["value"] for b in color["distribution"]["categorical"]["buckets"]) == ["blue", "green", "red"]
    c = {f["name"]: f for f in cons["features"]}
    assert c["x"]["completeness"] == 0.999 and sorted(c["color"]["string_constraints"]["domains"]) == [
        "blue", "green", "red"]
    orjson.dumps(stats), orjson.dumps(cons)  # plain JSON


def test_same_distribution_does_not_drift_and_a_shift_drifts_exactly_that_feature() -> None:
    stats, cons = compute_baseline(_data(5000, 0))
    same = compare(stats, cons, _rows(_data(2000, 1)))
    assert same["drifted_features"] == [] and same["violations"] == []
    assert all(f["statistics"].get("psi", 0) < 0.05 for f in same["features"])
    shifted = _data(2000, 2)
    shifted["x"] = (np.array(shifted["x"]) + 1.5).tolist()
    shifted["color"] = ["red"] * 1800 + ["blue"] * 200
    got = compare(stats, cons, _rows(shifted))
    assert got["drifted_features"] == ["x", "color"]
    x = next(f for f in got["features"] if f["name"] == "x")
    assert x["statistics"]["psi"] >= 0.2 and x["statistics"]["ks"] > 0.3 and x["drifted_by"] == ["psi"]
    color = next(f for f in got["features"] if f["name"] == "color")
    assert color["statistics"]["js"] > 0.1 and color["statistics"]["chi2_p"] < 0.01
    # A higher threshold given for PSI: x no longer drifts by it.
    assert "x" not in compare(stats, cons, _rows(shifted), {"psi": 5.0})["drifted_features"]


def test_data_quality_violations() -> None:
    stats, cons = compute_baseline(_data(500, 0))
    rows = _rows(_data(100, 1))
    for i, r in enumerate(rows):
        del r["y"]  # a missing column
        if i < 10:
            r["x"] = "lots"  # not a number
        if i < 50:
            r["k"] = None  # half missing
        if i < 5:
            r["color"] = "purple"  # a new category
    got = compare(stats, cons, rows)
    kinds = {(v["feature_name"], v["constraint_check_type"]) for v in got["violations"]}
    assert kinds == {("y", "missing_column"), ("x", "data_type_check"), ("k", "completeness_check"),
                     ("color", "baseline_drift_check")}


def test_captured_records_in_json_and_csv_become_rows() -> None:
    def rec(data: str, encoding: str) -> dict[str, object]:
        return {"captureData": {"endpointInput": {"data": data, "encoding": encoding}}}

    rows, bad = rows_from_records([
        rec(orjson.dumps({"instances": [[1, 2], [3, 4]]}).decode(), "JSON"),
        rec(orjson.dumps([{"a": 5, "b": 6}]).decode(), "JSON"),
        rec("7,8\n9,10\n", "CSV"),
        rec("not json", "JSON"),
        rec("AAAA", "BASE64"),
    ], ["a", "b"])
    assert rows == [{"a": 1, "b": 2}, {"a": 3, "b": 4}, {"a": 5, "b": 6}, {"a": "7", "b": "8"}, {"a": "9", "b": "10"}]
    assert bad == 2


def test_per_feature_thresholds_win_over_the_monitor_wide_ones_and_say_where_they_come_from() -> None:
    stats, cons = compute_baseline(_data(5000, 0))
    shifted = _data(2000, 2)
    shifted["x"] = (np.array(shifted["x"]) + 1.5).tolist()
    shifted["y"] = (np.array(shifted["y"]) + 0.6).tolist()  # a small shift: PSI well under 0.2, above 0.01
    got = compare(stats, cons, _rows(shifted), {"psi": 5.0, "y:psi": 0.01, "color:chi2_p": 0.001, "k:ks": 0.9})
    by = {f["name"]: f for f in got["features"]}
    assert got["drifted_features"] == ["y"]  # x is under the monitor-wide 5.0; y over its own 0.01
    assert by["x"]["threshold"] == {"statistic": "psi", "value": 5.0, "source": "monitor"}
    assert by["y"]["threshold"] == {"statistic": "psi", "value": 0.01, "source": "feature"}
    assert by["k"]["thresholds"] == {"psi": 5.0, "ks": 0.9}  # its own ks is judged too
    assert by["color"]["threshold"]["source"] == "default" and by["color"]["thresholds"] == {"js": 0.1, "chi2_p": 0.001}
    assert by["y"]["drifted_by"] == ["psi"] and not by["color"]["drifted"]
