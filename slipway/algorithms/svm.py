"""Support vector machines: a linear SVM (fast, large data) or a kernel SVM (rbf, poly, sigmoid)."""

from __future__ import annotations

from typing import Any

from slipway.algorithms._common import choice, floating, integer, is_classifier, random_state
from slipway.algorithms.base import CLASSIFICATION, REGRESSION, Algorithm


def _build(hp: dict[str, Any], problem: str) -> Any:
    from sklearn.svm import SVC, SVR, LinearSVC, LinearSVR

    gamma = "scale" if hp["gamma"] is None else hp["gamma"]
    if is_classifier(problem):
        from sklearn.calibration import CalibratedClassifierCV

        # Calibration gives an SVM predict_proba (serving reports a confidence), fitted by cross-validation.
        base: Any = (LinearSVC(C=hp["C"], max_iter=hp["max_iter"], random_state=hp["random_state"])
                     if hp["kernel"] == "linear" else
                     SVC(C=hp["C"], kernel=hp["kernel"], gamma=gamma, degree=hp["degree"],
                         random_state=hp["random_state"]))
        return CalibratedClassifierCV(base, cv=3, ensemble=False)
    if hp["kernel"] == "linear":
        return LinearSVR(C=hp["C"], epsilon=hp["epsilon"], max_iter=hp["max_iter"], random_state=hp["random_state"])
    return SVR(C=hp["C"], kernel=hp["kernel"], gamma=gamma, degree=hp["degree"], epsilon=hp["epsilon"])

ALGORITHM = Algorithm(
    name="svm",
    description="Support vector machine for classification or regression; kernel linear, rbf, poly or sigmoid.",
    problem_types=(CLASSIFICATION, REGRESSION),
    hyperparameters=(
        choice("kernel", "rbf", ("linear", "rbf", "poly", "sigmoid"), "'linear' uses liblinear (fast on large data)."),
        floating("C", 1.0, 0, None, "Inverse of the regularisation strength.", low_open=True),
        floating("gamma", None, 0, None, "Kernel coefficient; None means 'scale'.", low_open=True, nullable=True),
        integer("degree", 3, 1, 10, "Degree of the poly kernel."),
        floating("epsilon", 0.1, 0, None, "Width of the no-penalty tube (regression)."),
        integer("max_iter", 2000, 1, None, "Iterations of the linear solver."),
        random_state(),
    ),
    search_space={
        "kernel": {"type": "categorical", "choices": ["linear", "rbf"]},
        "C": {"type": "float", "low": 1e-2, "high": 1e3, "log": True},
        "gamma": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    },
    build=_build,
)
