"""Class probabilities -> Slipway's answer (label, confidence, probabilities per row): the one place it is made.

Every flavor that answers with labels (built-in algorithms, signature-checked models) goes through
``label_rows``; network outputs become probabilities through ``to_probabilities``; estimators (and
their ONNX exports, which answer like them) through ``estimator_rows``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["estimator_rows", "label_rows", "no_nan", "to_probabilities"]

CLASSIFIERS = ("binary_classification", "multiclass_classification")


def label_rows(proba: Any, labels: Sequence[str]) -> list[dict[str, Any]]:
    """[N, K] probabilities (columns in ``labels`` order) -> [{"label", "confidence", "probabilities"}] per row."""
    rows = np.asarray(proba, dtype=np.float64)
    best = rows.argmax(axis=1).tolist()
    return [
        {"label": labels[b], "confidence": row[b], "probabilities": dict(zip(labels, row))}
        for row, b in zip(rows.tolist(), best)
    ]


def to_probabilities(output: Any, n_labels: int | None = None) -> np.ndarray | None:
    """A network's output as class probabilities, or None when it cannot be (its width is not ``n_labels``).

    One sigmoid unit is P(class 1); outputs that already look like probabilities are kept; anything else
    (logits) gets a softmax.
    """
    out = np.asarray(output, dtype=np.float64)
    if out.ndim == 1:
        out = out[:, None]
    if out.ndim != 2:
        return None
    if out.shape[1] == 1 and n_labels in (None, 2):
        p = out[:, 0]
        if (p < 0).any() or (p > 1).any():
            p = 1 / (1 + np.exp(-p))
        return np.stack([1 - p, p], axis=1)
    if n_labels is not None and out.shape[1] != n_labels:
        return None
    if (out < 0).any() or not np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
    return out


def no_nan(out: Any) -> np.ndarray:
    """An ONNX graph does not refuse a missing value the way the estimator does: it answers NaN. Refuse it alike."""
    out = np.asarray(out)
    if out.dtype.kind == "f" and np.isnan(out).any():
        raise ValueError("Input contains NaN: the model answered NaN")
    return out


def estimator_rows(model: Any, x: Any, problem: str | None, labels: Sequence[str] | None) -> list[dict[str, Any]]:
    """An estimator's (or its ONNX export's) answer for rows ``x`` in Slipway's shape for ``problem``."""
    if problem in CLASSIFIERS:
        labels = labels or [str(c) for c in getattr(model, "classes_", [])]
        if hasattr(model, "predict_proba"):
            return label_rows(no_nan(model.predict_proba(x)), labels)
        return [{"label": str(v)} for v in np.asarray(model.predict(x)).tolist()]
    if problem == "clustering":
        return [{"cluster": int(v)} for v in np.asarray(model.predict(x)).tolist()]
    if problem == "transform":
        return [{"values": row} for row in np.asarray(model.transform(x)).tolist()]
    return [{"value": v} for v in no_nan(model.predict(x)).tolist()]
