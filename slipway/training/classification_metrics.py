"""Evaluation of a classifier from its class probabilities, like the other built-ins report it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["evaluate_classifier"]


def evaluate_classifier(
    y_true: np.ndarray, proba: np.ndarray, labels: Sequence[str], prefix: str = "validation"
) -> tuple[dict[str, float], dict[str, Any]]:
    """Return (metrics, report) for integer targets `y_true` and probabilities [N, K].

    Metrics are flat `<prefix>:<name>` floats (accuracy, precision/recall/F1 macro,
    ROC AUC binary or one-vs-rest macro, log loss); the report adds per-class figures
    and the confusion matrix (rows true, columns predicted, in `labels` order). ROC AUC
    is left out when the data lacks a class it needs.
    """
    from sklearn import metrics as skm

    k = len(labels)
    classes = list(range(k))
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    out: dict[str, float] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "f1_macro": float(np.mean(f1)),
        "log_loss": float(skm.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=classes)),
    }
    present = set(np.unique(y_true).tolist())
    if k == 2 and present == {0, 1}:
        out["roc_auc"] = float(skm.roc_auc_score(y_true, proba[:, 1]))
    elif k > 2 and present == set(classes):
        rows = proba / proba.sum(axis=1, keepdims=True)
        out["roc_auc"] = float(skm.roc_auc_score(y_true, rows, multi_class="ovr", average="macro", labels=classes))
    metrics = {f"{prefix}:{name}": value for name, value in out.items()}
    report = {
        "metrics": metrics,
        "labels": list(labels),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=classes).tolist(),
        "examples": int(len(y_true)),
    }
    return metrics, report
