"""Evaluation of the built-in networks: the same figures as the other built-ins."""

from __future__ import annotations

import numpy as np
import pytest

from slipway.training.classification_metrics import evaluate_classifier


def test_binary_metrics_and_confusion_matrix() -> None:
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    metrics, report = evaluate_classifier(y, proba, ["neg", "pos"])
    assert metrics["validation:accuracy"] == 0.75
    assert metrics["validation:roc_auc"] == 1.0
    assert metrics["validation:log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))
    assert report["confusion_matrix"] == [[1, 1], [0, 2]]
    assert report["per_class"]["pos"]["recall"] == 1.0
    assert set(metrics) == {f"validation:{m}" for m in (
        "accuracy", "precision_macro", "recall_macro", "f1_macro", "log_loss", "roc_auc")}


def test_multiclass_uses_one_vs_rest_and_skips_auc_when_a_class_is_absent() -> None:
    proba = np.eye(3)[[0, 1, 2, 2]] * 0.7 + 0.1
    metrics, _ = evaluate_classifier(np.array([0, 1, 2, 2]), proba, ["a", "b", "c"])
    assert metrics["validation:roc_auc"] == 1.0 and metrics["validation:f1_macro"] == 1.0
    metrics, report = evaluate_classifier(np.array([0, 0, 2]), proba[:3], ["a", "b", "c"], prefix="test")
    assert "test:roc_auc" not in metrics
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
