"""Real scikit-learn models on the breast cancer data, written as model artifacts for tests."""

from __future__ import annotations

import functools
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd

from slipway.artifacts.flavors.sklearn import save_sklearn_artifact

__all__ = ["cancer_data", "cancer_model", "custom_tar", "first_rows", "write_cancer_artifact"]


@functools.cache
def cancer_data() -> tuple[pd.DataFrame, list[str]]:
    from sklearn.datasets import load_breast_cancer

    b: Any = load_breast_cancer()
    names = [n.replace(" ", "_") for n in b.feature_names]
    return pd.DataFrame(b.data, columns=names), [str(b.target_names[i]) for i in b.target]


@functools.cache
def cancer_model(kind: str = "lr") -> Any:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = cancer_data()
    if kind == "lr":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
    if kind == "lr-c":  # a second, different version
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=1000)).fit(X, y)
    if kind == "rf":
        return RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    raise ValueError(kind)


def write_cancer_artifact(folder: Path, kind: str = "lr", **kw: Any) -> Path:
    save_sklearn_artifact(cancer_model(kind), folder, metrics={"validation:accuracy": 0.97}, **kw)
    return folder


def first_rows(n: int = 1) -> list[list[float]]:
    X, _ = cancer_data()
    return X.head(n).to_numpy().tolist()


def custom_tar(path: Path, code: str, files: dict[str, bytes] | None = None) -> Path:
    """A SageMaker-style model.tar.gz: arbitrary model files plus code/inference.py (no manifest)."""
    src = path.parent / f"{path.name}.src"
    (src / "code").mkdir(parents=True, exist_ok=True)
    (src / "code" / "inference.py").write_text(textwrap.dedent(code))
    for name, data in (files or {}).items():
        (src / name).write_bytes(data)
    with tarfile.open(path, "w:gz") as tar:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                tar.add(p, arcname=p.relative_to(src).as_posix())
    return path
