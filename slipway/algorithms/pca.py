"""Principal component analysis, as a transform (preprocessing) step."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import boolean, integer, random_state
from slipway.algorithms.base import TRANSFORM, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.decomposition import PCA

    return PCA(n_components=hp["n_components"], whiten=hp["whiten"], random_state=hp["random_state"])


ALGORITHM = Algorithm(
    name="pca",
    description="Projects rows onto their main directions of variance; the model transforms, it does not predict.",
    problem_types=(TRANSFORM,),
    hyperparameters=(
        integer("n_components", None, 1, None, "Components kept; None keeps all.", nullable=True),
        boolean("whiten", False, "Scale components to unit variance."),
        random_state(),
    ),
    search_space={"n_components": {"type": "int", "low": 1, "high": 64, "log": True}},
    build=_build,
    supervised=False,
)
