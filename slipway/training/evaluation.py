"""Evaluation of built-in models: the metrics per problem type, and the evaluation.json report."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["evaluate"]

MAX_PER_CLASS = 20  # per-class metrics become final metrics only for this many classes (all go in the report)


def _clean(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _classification(model: Any, X: Any, y: Any) -> tuple[dict[str, float], dict[str, Any]]:
    import numpy as np
    from sklearn import metrics as m

    classes = list(model.classes_)
    pred = model.predict(X)
    labels = [str(c) for c in classes]
    out: dict[str, float] = {
        "accuracy": m.accuracy_score(y, pred),
        "precision": m.precision_score(y, pred, average="macro", labels=classes, zero_division=0),
        "recall": m.recall_score(y, pred, average="macro", labels=classes, zero_division=0),
        "f1": m.f1_score(y, pred, average="macro", labels=classes, zero_division=0),
    }
    p, r, f, support = m.precision_recall_fscore_support(y, pred, labels=classes, zero_division=0)
    per_class = {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                 for i, lab in enumerate(labels)}
    if len(labels) <= MAX_PER_CLASS:
        for lab, values in per_class.items():
            out[f"f1:{lab}"] = values["f1"]
    if hasattr(model, "predict_proba"):
        try:
            proba = model.predict_proba(X)
            out["log_loss"] = m.log_loss(y, proba, labels=classes)
            present = set(np.unique(y).tolist())
            if len(classes) == 2 and len(present) == 2:
                out["roc_auc"] = m.roc_auc_score(y, proba[:, 1])
            elif len(classes) > 2 and present == set(classes):
                out["roc_auc"] = m.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        except (ValueError, AttributeError):
            pass
    report = {
        "labels": labels,
        "confusion_matrix": m.confusion_matrix(y, pred, labels=classes).tolist(),
        "per_class": per_class,
        "rows": len(pred),
    }
    return out, report


def _regression(model: Any, X: Any, y: Any) -> tuple[dict[str, float], dict[str, Any]]:
    from sklearn import metrics as m

    pred = model.predict(X)
    out = {"rmse": math.sqrt(m.mean_squared_error(y, pred)), "mae": m.mean_absolute_error(y, pred)}
    if len(pred) >= 2:
        out["r2"] = m.r2_score(y, pred)
    return out, {"rows": len(pred)}


def _clustering(model: Any, X: Any) -> tuple[dict[str, float], dict[str, Any]]:
    import numpy as np
    from sklearn import metrics as m

    assigned = model.predict(X)
    out: dict[str, float] = {}
    n_labels = len(np.unique(assigned))
    if 2 <= n_labels <= len(assigned) - 1:
        features = model[:-1].transform(X) if hasattr(model, "steps") and len(model.steps) > 1 else X
        out["silhouette"] = m.silhouette_score(features, assigned)
    final = model[-1] if hasattr(model, "steps") else model
    if hasattr(final, "inertia_"):
        out["inertia"] = float(final.inertia_)
    sizes = {str(k): int(v) for k, v in zip(*np.unique(assigned, return_counts=True))}
    return out, {"rows": len(assigned), "cluster_sizes": sizes}


def _transform(model: Any, X: Any) -> tuple[dict[str, float], dict[str, Any]]:
    final = model[-1] if hasattr(model, "steps") else model
    ratio = [float(r) for r in getattr(final, "explained_variance_ratio_", [])]
    return {"explained_variance": float(sum(ratio)), "components": float(len(ratio))}, {
        "explained_variance_ratio": ratio}


def evaluate(model: Any, problem: str, X: Any, y: Any) -> tuple[dict[str, float], dict[str, Any]]:
    """(metrics by short name, a JSON-able report) of ``model`` on ``X``/``y``."""
    if problem.endswith("classification"):
        metrics, report = _classification(model, X, y)
    elif problem == "regression":
        metrics, report = _regression(model, X, y)
    elif problem == "clustering":
        metrics, report = _clustering(model, X)
    else:
        metrics, report = _transform(model, X)
    cleaned = {k: v for k, v in ((k, _clean(v)) for k, v in metrics.items()) if v is not None}
    return cleaned, report
