"""Built-in algorithms record the curves their estimators keep as metric series with steps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from slipway.training.builtin import record_curves
from slipway.training.metrics import METRICS_FILE_ENV


def _series(path: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out.setdefault(rec["name"], []).append((rec["step"], rec["value"]))
    return out


@pytest.fixture
def metrics_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(METRICS_FILE_ENV, str(path))
    return path


def test_a_neural_network_logs_its_loss_per_epoch(metrics_file: Path) -> None:
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] > 0).astype(int)
    model = Pipeline([("scale", StandardScaler()),
                      ("mlp", MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, early_stopping=True,
                                            n_iter_no_change=100, random_state=0))])
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, y)
    record_curves(model)
    series = _series(metrics_file)
    assert [s for s, _ in series["train:loss"]] == list(range(1, 16))
    assert series["train:loss"][-1][1] < series["train:loss"][0][1]  # it learned
    assert len(series["train:holdout_score"]) == 15


def test_pca_logs_cumulative_explained_variance_per_component(metrics_file: Path) -> None:
    from sklearn.decomposition import PCA

    x = np.random.default_rng(1).normal(size=(50, 5))
    record_curves(PCA(n_components=3).fit(x))
    values = [v for _, v in _series(metrics_file)["train:explained_variance"]]
    assert len(values) == 3 and values == sorted(values) and values[-1] <= 1.0 + 1e-9


def test_a_one_pass_estimator_logs_nothing(metrics_file: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(2).normal(size=(40, 2))
    record_curves(LogisticRegression().fit(x, (x[:, 0] > 0).astype(int)))
    assert not metrics_file.exists()
