"""XGBoost and LightGBM behind scikit-learn's interface, with SageMaker's XGBoost hyperparameter names.

Used by the ``xgboost`` and ``lightgbm`` built-ins inside the job process (and unpickled by replicas):
labels of any type are encoded for the booster and decoded on the way out; with a validation set, each
round's validation metrics are logged as a series (step = round), so tuning can prune a poor trial.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["BoostedTrees"]


def _log(name: str, value: float, step: int) -> None:
    from slipway.training.metrics import log_metric

    if np.isfinite(value):
        log_metric(name, float(value), step=step)


class BoostedTrees(BaseEstimator):  # type: ignore[misc]
    """``fit(X, y, eval_set=(X_val, y_val))``, ``predict``, ``predict_proba`` over an XGBoost or LightGBM booster."""

    tree_based = True  # its ONNX export is verified on float32 inputs first (slipway.artifacts.onnx_runtime)

    def __init__(self, library: str = "xgboost", classifier: bool = True, params: dict[str, Any] | None = None,
                 num_round: int = 100, early_stopping_rounds: int | None = None) -> None:
        self.library = library
        self.classifier = classifier
        self.params = params
        self.num_round = num_round
        self.early_stopping_rounds = early_stopping_rounds

    def _targets(self, y: Any) -> np.ndarray:
        y = np.asarray(y)
        if not self.classifier:
            return y.astype(np.float64)
        return np.searchsorted(self.classes_, y)  # type: ignore[no-any-return]

    def fit(self, X: Any, y: Any, eval_set: tuple[Any, Any] | None = None) -> BoostedTrees:
        x = np.asarray(X, dtype=np.float32)
        if self.classifier:
            self.classes_ = np.unique(np.asarray(y))
        self.n_features_in_ = x.shape[1]
        params = dict(self.params or {})
        target = self._targets(y)
        if self.library == "xgboost":
            self._fit_xgboost(x, target, params, eval_set)
        else:
            self._fit_lightgbm(x, target, params, eval_set)
        return self

    def _fit_xgboost(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any], eval_set: Any) -> None:
        import xgboost as xgb

        if not params.get("objective"):
            params["objective"] = ("binary:logistic" if len(self.classes_) == 2 else "multi:softprob") \
                if self.classifier else "reg:squarederror"
        if params["objective"].startswith("multi:"):
            params["num_class"] = len(self.classes_)
        params = {k: v for k, v in params.items() if v is not None}
        evals = []
        if eval_set is not None:
            evals = [(xgb.DMatrix(np.asarray(eval_set[0], dtype=np.float32), label=self._targets(eval_set[1])),
                      "validation")]

        class Stream(xgb.callback.TrainingCallback):  # type: ignore[misc]
            def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
                for data, metrics in evals_log.items():
                    for metric, values in metrics.items():
                        _log(f"{data}:{metric}", values[-1], epoch + 1)
                return False

        self.booster_ = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=self.num_round, evals=evals,
                                  early_stopping_rounds=self.early_stopping_rounds if evals else None,
                                  callbacks=[Stream()], verbose_eval=False)
        self.objective_ = params["objective"]

    def _fit_lightgbm(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any], eval_set: Any) -> None:
        import lightgbm as lgb

        if not params.get("objective"):
            params["objective"] = ("binary" if len(self.classes_) == 2 else "multiclass") if self.classifier \
                else "regression"
        if params["objective"].startswith("multiclass"):
            params["num_class"] = len(self.classes_)
        params = {k: v for k, v in params.items() if v is not None}
        params.setdefault("verbose", -1)
        train = lgb.Dataset(x, label=y)
        valid = [] if eval_set is None else [
            lgb.Dataset(np.asarray(eval_set[0], dtype=np.float32), label=self._targets(eval_set[1]), reference=train)]

        def stream(env: Any) -> None:
            for data, metric, value, _ in env.evaluation_result_list:
                _log(f"validation:{metric}" if data != "training" else f"train:{metric}", value, env.iteration + 1)

        callbacks = [stream]
        if valid and self.early_stopping_rounds:
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(params, train, num_boost_round=self.num_round, valid_sets=valid,
                                  valid_names=["validation"] if valid else None, callbacks=callbacks)
        self.objective_ = params["objective"]

    def _raw(self, X: Any) -> np.ndarray:
        x = np.asarray(X, dtype=np.float32)
        if self.library == "xgboost":
            import xgboost as xgb

            best = getattr(self.booster_, "best_iteration", None)
            rounds = (0, best + 1) if best is not None and self.early_stopping_rounds else (0, 0)
            return np.asarray(self.booster_.predict(xgb.DMatrix(x), iteration_range=rounds))
        return np.asarray(self.booster_.predict(x))

    def predict_proba(self, X: Any) -> np.ndarray:
        out = self._raw(X)
        return np.stack([1 - out, out], axis=1) if out.ndim == 1 else out

    def predict(self, X: Any) -> np.ndarray:
        if not self.classifier:
            return self._raw(X)
        return self.classes_[self.predict_proba(X).argmax(axis=1)]  # type: ignore[no-any-return]
