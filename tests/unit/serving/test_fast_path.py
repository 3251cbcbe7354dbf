"""The ONNX fast path answers like the framework itself; the batcher gives each caller its own rows."""

from __future__ import annotations

import asyncio
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import orjson
import pytest

from slipway.artifacts import Manifest
from slipway.artifacts.flavors.sklearn import save_sklearn_artifact
from slipway.artifacts.loading import export_onnx
from slipway.serving.batching import Batcher
from slipway.serving.predictor import Predictor
from tests.support.models import cancer_data

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")


def _m1_m2(kind: str):  # the benchmark's models: M1 LogisticRegression, M2 a 100-tree random forest
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = cancer_data()
    est = LogisticRegression(max_iter=10000) if kind == "M1" else RandomForestClassifier(n_estimators=100,
                                                                                          random_state=0)
    return est.fit(X, y)


@pytest.mark.parametrize("kind", ["M1", "M2"])
def test_onnx_predictions_equal_the_frameworks_own(kind: str, tmp_path: Path) -> None:
    X, _ = cancer_data()
    est = _m1_m2(kind)
    save_sklearn_artifact(est, tmp_path, samples=X.sample(64, random_state=1))
    manifest = Manifest.read(tmp_path)
    info = export_onnx(tmp_path, manifest)
    assert info["verified"], info
    manifest.replace(onnx=info).write(tmp_path)

    fast, plain = Predictor(tmp_path), Predictor(tmp_path, onnx=False)
    fast.load()
    plain.load()
    assert (fast.runtime, plain.runtime) == ("onnxruntime", "scikit-learn")
    want = est.predict_proba(X)  # every row of the data set, not only the ones verified on
    body = orjson.dumps({"instances": X.to_numpy().tolist()})
    rows = fast.fast_rows(body, "application/json", "")
    assert rows is not None
    for predictor in (fast, plain):
        got = predictor.predict_rows(rows)
        probs = np.array([[p["probabilities"][c] for c in est.classes_] for p in got])
        assert np.abs(probs - want).max() <= 1e-5
        assert [p["label"] for p in got] == list(est.predict(X))
    # The general path (records, CSV…) goes through the same runtime and agrees too.
    status, out, _ = fast.invoke(orjson.dumps(X.head(3).to_dict(orient="records")), "application/json", "")
    assert status == 200
    assert [p["label"] for p in orjson.loads(out)["predictions"]] == list(est.predict(X.head(3)))


def test_bodies_the_fast_path_must_not_take_fall_back_to_the_checked_path(tmp_path: Path) -> None:
    save_sklearn_artifact(_m1_m2("M1"), tmp_path)
    p = Predictor(tmp_path, onnx=False)
    p.load()
    row = [1.0] * 30
    for body, ct, accept in [
        ({"instances": [row[:29]]}, "application/json", ""),         # wrong width
        ({"instances": [[*row[:29], "x"]]}, "application/json", ""),  # a string
        ({"instances": [[*row[:29], None]]}, "application/json", ""),  # a missing value
        ({"instances": [row, row[:3]]}, "application/json", ""),     # ragged
        ({"instances": [row]}, "text/csv", ""),
        ({"instances": [row]}, "application/json", "text/csv"),
    ]:
        assert p.fast_rows(orjson.dumps(body), ct, accept) is None
    assert p.invoke(orjson.dumps({"instances": [[*row[:29], "x"]]}), "application/json", "")[0] == 400

    def npy(arr: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, arr)
        return buf.getvalue()

    # A float .npy array of the signature's width (a batch transform's body) takes the fast path as it is...
    rows = np.arange(60, dtype=np.float64).reshape(2, 30)
    got = p.fast_rows(npy(rows), "application/x-npy", "application/json")
    assert got is not None and (got == rows).all()
    # ... anything else goes to the checked path, which explains it.
    gap = rows.copy()
    gap[1, 3] = np.nan
    for arr in (rows[:, :29], gap, rows.astype(np.int64), rows[0]):
        assert p.fast_rows(npy(arr), "application/x-npy", "") is None
    assert p.fast_rows(b"not an array", "application/x-npy", "") is None
    status, out, _ = p.invoke(npy(gap), "application/x-npy", "")
    assert status == 400 and b"Row 1" in out and b"(column 3)" in out, out


@pytest.mark.parametrize("threaded", [False, True])
def test_batching_returns_each_caller_exactly_its_rows(threaded: bool) -> None:
    calls: list[int] = []

    def predict(x: np.ndarray) -> list[float]:
        calls.append(len(x))
        return [float(v) for v in x[:, 0]]

    executor = ThreadPoolExecutor(2) if threaded else None
    batcher = Batcher(predict, max_batch_size=8, max_wait=0.0, executor=executor)

    async def main() -> list[list[float]]:
        # Request i has i+1 rows (one has 12, over the batch size: kept whole), each row tagged with its caller.
        sizes = [1, 2, 3, 12, 1, 5, 2, 7, 1, 4]
        reqs = [np.array([[i * 100 + j, 0.0] for j in range(n)]) for i, n in enumerate(sizes)]
        got = await asyncio.gather(*[batcher.submit(r) for r in reqs])
        for i, (r, g) in enumerate(zip(reqs, got)):
            assert g == [float(v) for v in r[:, 0]], f"caller {i} got someone else's rows"
        return got

    asyncio.run(main())
    if executor is not None:
        executor.shutdown()
    assert sum(calls) == 38
    assert len(calls) < 10  # concurrent requests shared model calls
    assert 12 in calls and all(c <= 8 for c in calls if c != 12)  # no request split across calls


def test_a_failing_request_does_not_fail_the_others_in_its_batch() -> None:
    def predict(x: np.ndarray) -> list[float]:
        if (x < 0).any():
            raise ValueError("negative")
        return list(x[:, 0])

    async def main() -> list[object]:
        b = Batcher(predict, max_batch_size=64, max_wait=0.0, executor=None)
        return await asyncio.gather(b.submit(np.array([[1.0]])), b.submit(np.array([[-1.0]])),
                                    b.submit(np.array([[2.0]])), return_exceptions=True)

    ok1, bad, ok2 = asyncio.run(main())
    assert ok1 == [1.0] and ok2 == [2.0] and isinstance(bad, ValueError)
