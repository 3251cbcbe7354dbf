"""The XGBoost and LightGBM built-ins through a real server: train -> register -> deploy -> invoke."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from slipway.client import Client
from slipway.errors import InvalidArgument
from tests.support.servers import SlipwayServer

pytestmark = pytest.mark.warm_spare  # deploys endpoints: keep the warm spare replica (tests/conftest.py)


@pytest.fixture
def c(sqlite_server: SlipwayServer) -> Iterator[Client]:
    with Client(url=sqlite_server.url, home=sqlite_server.home) as client:
        yield client


def table(path: Path, rows: int = 120) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(rows, 3)).round(3)
    y = np.where(x[:, 0] - x[:, 1] > 0, "up", "down")
    path.write_text("a,b,c,direction\n" + "".join(f"{r[0]},{r[1]},{r[2]},{t}\n" for r, t in zip(x, y)))
    return path, x


def test_xgboost_and_lightgbm_builtins_train_register_deploy_and_answer(c: Client, tmp_path: Path) -> None:
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    data, x = table(tmp_path / "moves.csv")
    c.datasets.push("moves", data, label="direction")
    hps = {"xgboost": {"num_round": 20, "max_depth": 3, "eta": 0.3, "early_stopping_rounds": 5},
           "lightgbm": {"num_round": 20, "num_leaves": 7, "min_data_in_leaf": 5, "eta": 0.2}}
    jobs = {name: c.jobs.create(f"moves-{name}", algorithm=name, data={"train": "moves:1"},
                                hyperparameters=hp, validation_split=0.25) for name, hp in hps.items()}
    rows = [{"a": r[0], "b": r[1], "c": r[2]} for r in x[:6]]
    expected = ["up" if r[0] - r[1] > 0 else "down" for r in x[:6]]
    for name, job in jobs.items():
        job.wait(timeout=300)
        assert job.status == "Completed", job.failure_reason
        assert job.metrics["validation:accuracy"] > 0.7
        model = c.models.register(job.name, f"moves-{name}")
        # The booster sits in a scikit-learn Pipeline with the imputing and encoding steps: the sklearn flavor.
        assert (model.framework, model.problem_type) == ("sklearn", "binary_classification")
        assert model.lineage["algorithm"] == name
        assert c.endpoints.deploy(f"moves-{name}", model.ref).status == "InService"
        out = c.endpoints.invoke(f"moves-{name}", rows)["predictions"]
        assert [p["label"] for p in out] == expected
        assert all(abs(sum(p["probabilities"].values()) - 1) < 1e-5 for p in out)
        with pytest.raises(InvalidArgument, match="'b'"):  # a missing column is named
            c.endpoints.invoke(f"moves-{name}", [{"a": 1.0, "c": 2.0}])
