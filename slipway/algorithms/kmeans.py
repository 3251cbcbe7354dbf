"""k-means clustering."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import integer, random_state
from slipway.algorithms.base import CLUSTERING, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=hp["n_clusters"], n_init=hp["n_init"], max_iter=hp["max_iter"],
                  random_state=hp["random_state"])


ALGORITHM = Algorithm(
    name="kmeans",
    description="Groups rows into k clusters around centroids; a label column, if any, is ignored.",
    problem_types=(CLUSTERING,),
    hyperparameters=(
        integer("n_clusters", 8, 1, None, "Number of clusters."),
        integer("n_init", 3, 1, None, "Restarts from different centroids; the best is kept."),
        integer("max_iter", 300, 1, None, "Iterations per restart."),
        random_state(),
    ),
    search_space={"n_clusters": {"type": "int", "low": 2, "high": 20}},
    build=_build,
    supervised=False,
)
