"""The scikit-learn flavor: save a fitted estimator (model.joblib), read its signature, load, export to ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from slipway.artifacts.flavors.estimator import (
    EstimatorPredictor,
    describe_estimator,
    final_step,
    load_onnx_export,
)
from slipway.artifacts.handlers import Defaults
from slipway.artifacts.manifest import CLASSIFIERS, Manifest, Signature, now
from slipway.errors import InvalidArgument

__all__ = ["EXTRA", "NAME", "defaults", "describe_estimator", "export_onnx", "load", "load_estimator",
           "save", "save_sklearn_artifact"]

NAME = "sklearn"
EXTRA = None
MODEL_FILE = "model.joblib"


def save(
    estimator: Any,
    folder: str | Path,
    *,
    feature_names: list[str] | None = None,
    labels: list[str] | None = None,
    problem_type: str | None = None,
    dtypes: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
    lineage: dict[str, Any] | None = None,
    code_dir: str | Path | None = None,
    samples: Any = None,
    input_kind: str = "tabular",
    inputs: list[dict[str, str]] | None = None,
    extra_files: dict[str, str] | None = None,
) -> Manifest:
    """Write a fitted estimator as a model artifact folder (model.joblib + slipway-model.json).

    Anything not given is inferred from the estimator. ``labels`` must follow ``classes_`` order
    (the columns of predict_proba). ``samples`` (rows of training data, numeric signatures only) are
    kept as samples.json, up to 64 of them, to verify the ONNX export against. ``inputs`` gives the
    signature's columns with their dtypes as training saw them. Returns the manifest written.
    """
    import joblib

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    info = describe_estimator(estimator) if inputs is None or problem_type is None else None
    if inputs is None:
        assert info is not None
        inputs = info["inputs"]
        if feature_names is not None:
            if len(feature_names) != len(inputs):
                raise InvalidArgument(
                    f"feature_names has {len(feature_names)} names; the estimator expects {len(inputs)} features.",
                    {"field": "feature_names"},
                )
            inputs = [{"name": n, "dtype": "float64"} for n in feature_names]
        inputs = [{**i, "dtype": (dtypes or {}).get(i["name"], i["dtype"])} for i in inputs]
    problem = problem_type or (info or {}).get("problem_type")
    if labels is None and problem in CLASSIFIERS:
        final = final_step(estimator)
        labels = [str(c) for c in getattr(estimator, "classes_", getattr(final, "classes_", []))] or None
    manifest = Manifest(
        framework=NAME, model_file=MODEL_FILE, problem_type=problem,
        signature=Signature(input_kind, inputs, None,
                            [str(x) for x in labels] if labels is not None and problem in CLASSIFIERS else None),
        metrics=dict(metrics or {}), lineage=dict(lineage or {}), created_at=now(),
    )
    joblib.dump(estimator, out / MODEL_FILE)
    for name, text in (extra_files or {}).items():
        (out / name).write_text(text)
    if samples is not None and input_kind == "text":
        from slipway.artifacts.onnx_runtime import SAMPLES_FILE

        (out / SAMPLES_FILE).write_text(json.dumps([str(t) for t in list(samples)[:64]]))
    elif samples is not None:
        from slipway.artifacts.onnx_runtime import SAMPLES_FILE

        try:
            rows = np.asarray(getattr(samples, "to_numpy", lambda: samples)(), dtype=np.float64)[:64]
            (out / SAMPLES_FILE).write_text(json.dumps(rows.tolist()))
        except (TypeError, ValueError):  # a table with string columns: rows of strings, numbers and nulls
            if hasattr(samples, "head"):
                head = samples.head(64)
                mixed = head.astype(object).where(head.notna(), None).to_numpy().tolist()
                (out / SAMPLES_FILE).write_text(json.dumps(mixed, default=_plain))
    if code_dir is not None:
        shutil.copytree(code_dir, out / "code", dirs_exist_ok=True)
    manifest.write(out)
    return manifest


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else str(value)


def save_sklearn_artifact(estimator: Any, folder: str | Path, **kwargs: Any) -> dict[str, Any]:
    """``save`` returning the manifest as a dict (for callers outside the artifact layer: demo, bench, tests)."""
    return save(estimator, folder, **kwargs).to_dict()


def load_estimator(path: Path) -> Any:
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # a pickle can fail in any way
        raise InvalidArgument(
            f"Cannot load {path.name} with joblib ({type(exc).__name__}: {exc}). "
            "Expected a scikit-learn estimator saved with joblib.dump.",
            {"field": "model", "value": path.name},
        ) from None


def load(folder: Path, manifest: Manifest, *, onnx: bool = True, device: str | None = None) -> EstimatorPredictor:
    """The estimator (or its verified ONNX export, which then serves instead) behind a predictor."""
    folder = Path(folder)
    if not manifest.model_file:
        raise InvalidArgument("This scikit-learn model has no model_file to load. Expected model.joblib, or "
                              "code/inference.py with a model_fn.", {"field": "model_file"})
    fast = load_onnx_export(folder, manifest) if onnx else None
    return EstimatorPredictor(NAME, load_estimator(folder / manifest.model_file), manifest, onnx=fast,
                              runtime="scikit-learn")


def export_onnx(folder: Path, manifest: Manifest, estimator: Any | None = None) -> dict[str, Any]:
    from slipway.artifacts.onnx_runtime import export_estimator

    return export_estimator(folder, manifest, estimator, _convert, _convert_columns, _convert_text)


def positional(estimator: Any) -> Any:
    """A copy of ``estimator`` whose ColumnTransformers select columns by position, not by name.

    The built-ins fit a Pipeline whose ColumnTransformer picks named DataFrame columns; skl2onnx maps a
    column name to an ONNX input of that name, so a one-tensor export fails ("Unable to find column name
    'mean_radius' among names ['input']"). Served rows arrive as an array in the signature's column order
    (the order the transformer was fitted on), so positions select the same columns. The estimator
    itself is left alone; one without a ColumnTransformer comes back as it is.
    """
    import copy

    if not _column_transformers(estimator):
        return estimator
    out = copy.deepcopy(estimator)
    for ct in _column_transformers(out):
        names = [str(n) for n in getattr(ct, "feature_names_in_", [])]
        fitted = []
        for name, transformer, columns in ct.transformers_:
            fitted.append((name, transformer, _positions(columns, names)))
        ct.transformers_ = fitted
        ct.transformers = [(n, t, _positions(c, names)) for n, t, c in ct.transformers]
    return out


def _column_transformers(estimator: Any) -> list[Any]:
    from sklearn.compose import ColumnTransformer

    if isinstance(estimator, ColumnTransformer):
        nested = [c for _, t, _ in estimator.transformers_ for c in _column_transformers(t)]
        return [estimator, *nested]
    return [c for _, step in (getattr(estimator, "steps", None) or []) for c in _column_transformers(step)]


def _positions(columns: Any, names: list[str]) -> Any:
    if isinstance(columns, str):
        columns = [columns]
    values = list(columns) if isinstance(columns, (list, tuple, np.ndarray)) else None
    if values is None or not values or not all(isinstance(c, str) for c in values):
        return columns  # positions, a slice or a mask already
    missing = [c for c in values if c not in names]
    if missing:
        raise ValueError(f"the ColumnTransformer selects {missing[0]!r}, which is not among the columns it was "
                         f"fitted on ({', '.join(names[:8])})")
    return [names.index(c) for c in values]


def _convert(estimator: Any, n_features: int, dtype: Any, classifier: bool) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    final = final_step(estimator)
    if type(final).__name__ == "BoostedTrees":  # the xgboost and lightgbm built-ins
        return _convert_boosted(estimator, n_features, dtype, classifier)
    tensor = DoubleTensorType if dtype == np.float64 else FloatTensorType
    options = {"zipmap": False} if classifier else None
    with _int_missing_flags():
        onx = to_onnx(positional(estimator), initial_types=[("input", tensor([None, n_features]))], options=options,
                      target_opset={"": 17, "ai.onnx.ml": 3})
    if dtype == np.float64:
        _double_imputers(onx)
    return onx.SerializeToString()  # type: ignore[no-any-return]


def _convert_columns(estimator: Any, inputs: list[dict[str, Any]], dtype: Any, classifier: bool) -> bytes:
    """A table with string columns: one ONNX input per column, named as the ColumnTransformer names them
    (strings as StringTensorType), so that skl2onnx finds each column by name."""
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    from slipway.artifacts.onnx_runtime import column_feeds

    if type(final_step(estimator)).__name__ == "BoostedTrees":
        raise ValueError("boosters are exported on all-numeric tables only")
    number = DoubleTensorType if dtype == np.float64 else FloatTensorType
    feeds = column_feeds(inputs)
    types = [(name, StringTensorType([None, 1]) if text else number([None, 1])) for name, text in feeds]
    options = {"zipmap": False} if classifier else None
    with _int_missing_flags():
        onx = to_onnx(_empty_string_missing(estimator, {n for n, text in feeds if text}), initial_types=types,
                      options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    if dtype == np.float64:
        _double_imputers(onx)
    return onx.SerializeToString()  # type: ignore[no-any-return]


def _convert_text(estimator: Any, classifier: bool) -> bytes:
    """The text classifier (TfidfVectorizer, then a linear model): one string input [N, 1]."""
    from onnx import helper
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import StringTensorType

    steps = getattr(estimator, "steps", None) or []
    vectorizer = steps[0][1] if steps else None
    options: dict[Any, Any] = {id(final_step(estimator)): {"zipmap": False}} if classifier else {}
    pattern = getattr(vectorizer, "token_pattern", None)
    if pattern:
        # RE2 (ONNX Runtime's tokenizer) has no (?u) flag; a \w that reads non-ASCII text differently shows
        # in the verification on the training texts.
        options[id(vectorizer)] = {"tokenexp": pattern.replace("(?u)", "")}
    onx = to_onnx(estimator, initial_types=[("input", StringTensorType([None, 1]))], options=options,
                  target_opset={"": 17, "ai.onnx.ml": 3})
    for node in onx.graph.node:
        if node.op_type == "StringNormalizer":  # its default locale (en_US.UTF-8) may not exist here
            keep = [a for a in node.attribute if a.name != "locale"]
            del node.attribute[:]
            node.attribute.extend([*keep, helper.make_attribute("locale", "C.UTF-8")])
    return onx.SerializeToString()  # type: ignore[no-any-return]


def _empty_string_missing(estimator: Any, strings: set[str]) -> Any:
    """A copy whose imputers over string columns take "" as the missing value: ONNX string tensors have no
    null, so the served feed writes a missing string as "" (an export that differs shows in the verification)."""
    import copy

    from sklearn.impute import SimpleImputer

    out = copy.deepcopy(estimator)
    for ct in _column_transformers(out):
        for _, transformer, columns in ct.transformers_:
            names = [columns] if isinstance(columns, str) else list(columns) if isinstance(columns, list) else []
            if not names or not all(isinstance(c, str) and c in strings for c in names):
                continue
            for step in [s for _, s in getattr(transformer, "steps", [])] or [transformer]:
                missing = getattr(step, "missing_values", "")
                if isinstance(step, SimpleImputer) and (missing is None or (isinstance(missing, float) and missing != missing)):
                    step.missing_values = ""
    return out


def _convert_boosted(estimator: Any, n_features: int, dtype: Any, classifier: bool) -> bytes:
    """A built-in booster's Pipeline: its preprocessing through skl2onnx and its booster through onnxmltools
    (the XGBoost / LightGBM flavors' converters), joined into one graph on float32 rows."""
    import onnx
    from onnx import compose
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    final = final_step(estimator)
    if final.library == "xgboost":
        from slipway.artifacts.flavors.xgboost import BoosterModel
        from slipway.artifacts.flavors.xgboost import _convert as convert_booster

        booster = final.booster_
        best = getattr(booster, "best_iteration", None)
        if best is not None and final.early_stopping_rounds:
            booster = booster[: best + 1]  # the rounds predict uses
        inner: Any = BoosterModel(booster)
    else:
        from slipway.artifacts.flavors.lightgbm import LgbBoosterModel
        from slipway.artifacts.flavors.lightgbm import _convert as convert_booster

        inner = LgbBoosterModel(final.booster_)
    trees = onnx.load_from_string(convert_booster(inner, int(final.n_features_in_), np.float32, classifier))
    steps = getattr(estimator, "steps", None) or []
    if len(steps) < 2:
        if dtype != np.float32:
            raise ValueError("boosters convert to float32 inputs only")
        return trees.SerializeToString()  # type: ignore[no-any-return]
    from sklearn.pipeline import Pipeline

    # float64: the preprocessing computes in float64 as scikit-learn does, then a Cast hands the booster the
    # float32 values it was trained on (preprocessing in float32 can move a value across a split threshold).
    tensor = DoubleTensorType if dtype == np.float64 else FloatTensorType
    opsets = {o.domain or "": o.version for o in trees.opset_import}
    with _int_missing_flags():
        prep = to_onnx(positional(Pipeline(steps[:-1])), initial_types=[("input", tensor([None, n_features]))],
                       target_opset={"": opsets.get("", 15), "ai.onnx.ml": opsets.get("ai.onnx.ml", 1)})
    if dtype == np.float64:
        _double_imputers(prep)
        out = prep.graph.output[0]
        prep.graph.node.append(onnx.helper.make_node("Cast", [out.name], [out.name + "_f32"], to=onnx.TensorProto.FLOAT))
        cast = onnx.helper.make_tensor_value_info(out.name + "_f32", onnx.TensorProto.FLOAT, None)
        prep.graph.output.pop()
        prep.graph.output.append(cast)
    prep = compose.add_prefix(prep, "prep_")
    trees = compose.add_prefix(trees, "trees_")
    prep.ir_version = trees.ir_version = max(prep.ir_version, trees.ir_version)
    merged = compose.merge_models(prep, trees, io_map=[(prep.graph.output[0].name, trees.graph.input[0].name)])
    merged.graph.input[0].name = "input"  # for readers of the file; the session reads the name off the graph
    for node in merged.graph.node:
        node.input[:] = ["input" if i == "prep_input" else i for i in node.input]
    return merged.SerializeToString()  # type: ignore[no-any-return]


def _double_imputers(model: Any) -> None:
    """Replace ai.onnx.ml Imputer nodes (float32 only in ONNX Runtime) by IsNaN/Equal + Where, which take
    float64: a float64 export of an imputing pipeline then runs, and computes as scikit-learn does."""
    import onnx
    from onnx import helper, numpy_helper

    nodes = list(model.graph.node)
    out = []
    for i, node in enumerate(nodes):
        if node.op_type != "Imputer" or node.domain != "ai.onnx.ml":
            out.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        fill = np.asarray(attrs.get("imputed_value_floats") or [0.0], dtype=np.float64)
        replaced = float(attrs.get("replaced_value_float", np.nan))
        prefix = f"{node.name or 'imputer'}_{i}_double"
        model.graph.initializer.append(numpy_helper.from_array(fill, prefix + "_fill"))
        if np.isnan(replaced):
            out.append(helper.make_node("IsNaN", [node.input[0]], [prefix + "_mask"]))
        else:
            model.graph.initializer.append(numpy_helper.from_array(np.asarray([replaced]), prefix + "_value"))
            out.append(helper.make_node("Equal", [node.input[0], prefix + "_value"], [prefix + "_mask"]))
        out.append(helper.make_node("Where", [prefix + "_mask", prefix + "_fill", node.input[0]], [node.output[0]]))
    del model.graph.node[:]
    model.graph.node.extend(out)
    onnx.checker.check_model(model)


class _int_missing_flags:
    """skl2onnx (1.20) writes a histogram-gradient-boosting leaf's missing-value flag as a Python bool, which
    onnx refuses in an ints attribute ("Expected an int, got a boolean"): give it ints for the conversion."""

    def __enter__(self) -> None:
        from skl2onnx.common import tree_ensemble

        self.module = tree_ensemble
        self.original = tree_ensemble.add_node

        def add_node(*args: Any, **kwargs: Any) -> Any:
            if "nodes_missing_value_tracks_true" in kwargs:
                kwargs["nodes_missing_value_tracks_true"] = int(kwargs["nodes_missing_value_tracks_true"])
            return self.original(*args, **kwargs)

        tree_ensemble.add_node = add_node

    def __exit__(self, *exc: Any) -> None:
        self.module.add_node = self.original


# -- SageMaker's scikit-learn container defaults ---------------------------------------------------


def defaults(manifest: Manifest, device: str | None = None) -> Defaults:
    """As the scikit-learn container: JSON/CSV/.npy in as an array, ``model.predict``, the bare answer out."""
    from slipway.serving.payloads import decode_instances, encode_array

    def model_fn(model_dir: str) -> Any:
        if manifest.model_file:
            return load_estimator(Path(model_dir) / manifest.model_file)
        raise InvalidArgument(
            "The model's code defines no model_fn and the artifact has no model file. Expected a model_fn(model_dir) "
            "in the entry point or code/inference.py that loads the model, as SageMaker's scikit-learn "
            "container needs.",
            {"field": "model_fn"})

    def input_fn(body: Any, content_type: str) -> Any:
        data = decode_instances(body, content_type, finite=False)
        try:
            return np.asarray(data)
        except ValueError:  # ragged
            return data

    def predict_fn(data: Any, model: Any) -> Any:
        return model.predict(data)

    return Defaults(model_fn, input_fn, predict_fn, encode_array)
