"""Train a built-in network from a dataset folder to a saved, evaluated model artifact.

`train_builtin` is what the job runner calls for `--algorithm image-classifier` and
`--algorithm sequence-classifier`.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slipway.artifacts.flavors.torch_builtin import save_torch_artifact
from slipway.errors import InvalidArgument
from slipway.training.classification_metrics import evaluate_classifier
from slipway.training.deep_algorithms import DEEP_ALGORITHMS, DeepAlgorithm
from slipway.training.deep_data import TOKEN_PATTERN, Vocabulary, load_image_dataset, load_text_dataset
from slipway.training.torch_fit import EpochCallback, fit, select_device
from slipway.training.torch_nets import ServingModel, build_network

__all__ = ["TrainResult", "get_algorithm", "train_builtin"]


@dataclass
class TrainResult:
    model_dir: Path
    metrics: dict[str, float]  # final: evaluation of the best epoch on the validation data
    history: list[dict[str, float]]  # per-epoch metrics, as sent to the callback
    best_epoch: int
    hyperparameters: dict[str, Any]
    evaluation: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"
    stopped_early: bool = False
    stopped_by_callback: bool = False
    model: Any = None  # the trained ServingModel in memory (raw inputs → probabilities), as saved


def get_algorithm(name: str) -> DeepAlgorithm:
    try:
        return DEEP_ALGORITHMS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(DEEP_ALGORITHMS), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise InvalidArgument(
            f"Unknown deep-learning algorithm '{name}'.{hint} Expected one of: {', '.join(DEEP_ALGORITHMS)}.",
            {"field": "algorithm", "value": name, "expected": list(DEEP_ALGORITHMS)},
        ) from None


def _split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y))
    try:
        return tuple(train_test_split(index, test_size=share, random_state=seed, stratify=y))  # type: ignore[return-value]
    except ValueError:  # a class too small to stratify
        return tuple(train_test_split(index, test_size=share, random_state=seed))  # type: ignore[return-value]


def _check_sizes(n_train: int, n_val: int, name: str) -> None:
    if n_train < 2 or n_val < 1:
        raise InvalidArgument(
            f"{name} needs at least 2 training and 1 validation example; got {n_train} and {n_val}. "
            "Push more data or change validation_split.",
            {"field": "data", "value": {"train": n_train, "validation": n_val}},
        )


def train_builtin(
    algorithm: str,
    train: Path | str,
    model_dir: Path | str,
    hyperparameters: Mapping[str, Any] | None = None,
    *,
    validation: Path | str | None = None,
    on_epoch: EpochCallback | None = None,
    checkpoint_dir: Path | str | None = None,
    resume: bool = False,
    lineage: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> TrainResult:
    """Validate hyperparameters, load the data, fit, evaluate and write the artifact into `model_dir`.

    `train` (and `validation`, else a stratified `validation_split` of `train`) is a
    channel folder or file as `find_dataset` understands it. Raises InvalidArgument for
    bad hyperparameters or data before any training starts.
    """
    started = time.perf_counter()
    spec = get_algorithm(algorithm)
    hp = spec.validate(hyperparameters)
    torch.manual_seed(hp["seed"])
    dev = select_device(device)
    vocabulary: Vocabulary | None = None
    signature: dict[str, Any]
    serving_kwargs: dict[str, Any]
    if algorithm == "image-classifier":
        data = load_image_dataset(train, image_size=hp["image_size"])
        labels, y_all, raw = data.labels, data.y, data.x
        if validation is not None:
            val = load_image_dataset(validation, shape=tuple(raw.shape[1:]), labels=labels)  # type: ignore[arg-type]
            val_x = val.x * np.float32(data.value_max / val.value_max) if val.value_max != data.value_max else val.x
            train_raw, train_y, val_raw, val_y = raw, y_all, val_x, val.y
        else:
            tr, va = _split(y_all, hp["validation_split"], hp["seed"])
            train_raw, train_y, val_raw, val_y = raw[tr], y_all[tr], raw[va], y_all[va]
        _check_sizes(len(train_y), len(val_y), algorithm)
        height, width, channels = (int(s) for s in raw.shape[1:])
        scale = data.value_max
        mean = float((train_raw / scale).mean())
        std = float((train_raw / scale).std()) or 1.0

        def to_input(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(((x / scale - mean) / std).astype(np.float32)).permute(0, 3, 1, 2).contiguous()

        x_train, x_val = to_input(train_raw), to_input(val_raw)
        shape = {"channels": channels, "height": height, "width": width}
        input_shape = [height, width] if channels == 1 else [height, width, channels]
        signature = {"input_kind": "image", "inputs": [], "input_shape": input_shape, "labels": labels}
        preprocessing: dict[str, Any] = {
            "kind": "image", "input_shape": input_shape, "layout": "NHWC", "channels": channels,
            "color_mode": "grayscale" if channels == 1 else "rgb", "value_range": [0.0, scale],
            "normalisation": {"scale": scale, "mean": mean, "std": std},
        }
        serving_kwargs = {"scale": scale, "mean": mean, "std": std, "channels_last": True}
        raw_val = torch.from_numpy(val_raw.astype(np.float32))
        samples: Any = train_raw
    else:
        text = load_text_dataset(train)
        labels = text.labels
        if validation is not None:
            val_text = load_text_dataset(validation, labels=labels)
            train_texts, train_y, val_texts, val_y = text.texts, text.y, val_text.texts, val_text.y
        else:
            tr, va = _split(text.y, hp["validation_split"], hp["seed"])
            train_texts = [text.texts[i] for i in tr]
            val_texts = [text.texts[i] for i in va]
            train_y, val_y = text.y[tr], text.y[va]
        _check_sizes(len(train_y), len(val_y), algorithm)
        vocabulary = Vocabulary.build(train_texts, hp["max_vocab"], hp["min_count"])
        x_train = torch.from_numpy(vocabulary.encode(train_texts, hp["max_length"]))
        x_val = torch.from_numpy(vocabulary.encode(val_texts, hp["max_length"]))
        shape = {"vocab_size": len(vocabulary)}
        signature = {"input_kind": "text", "inputs": [], "input_shape": None, "labels": labels}
        preprocessing = {
            "kind": "text", "tokenizer": "regex", "token_pattern": TOKEN_PATTERN,
            "lowercase": True, "max_length": hp["max_length"], "vocabulary": "vocab.json",
            "vocab_size": len(vocabulary), "padding_id": 0, "unknown_id": 1,
        }
        serving_kwargs = {}
        raw_val = x_val
        samples = x_train
    net = build_network(algorithm, hp, shape, len(labels))
    result = fit(
        net, x_train, torch.from_numpy(train_y), x_val, torch.from_numpy(val_y),
        epochs=hp["epochs"], batch_size=hp["batch_size"], learning_rate=hp["learning_rate"],
        optimizer=hp["optimizer"], early_stopping_patience=hp["early_stopping_patience"],
        early_stopping_metric=hp["early_stopping_metric"], seed=hp["seed"], on_epoch=on_epoch,
        checkpoint_dir=checkpoint_dir, resume=resume, device=dev,
    )
    serving = ServingModel(net, **serving_kwargs).to(dev).eval()
    with torch.inference_mode():
        proba = torch.cat([serving(chunk.to(dev)).cpu() for chunk in raw_val.split(512)]).numpy()
    metrics, report = evaluate_classifier(val_y, proba, labels)
    best = result.best_metrics
    metrics.update({k: best[k] for k in ("train:loss", "train:accuracy", "validation:loss") if k in best})
    report.update({"best_epoch": result.best_epoch, "history": result.history})
    save_torch_artifact(
        model_dir, serving, samples,
        problem_type="binary_classification" if len(labels) == 2 else "multiclass_classification",
        signature=signature, preprocessing=preprocessing, metrics=metrics,
        lineage={"algorithm": algorithm, "hyperparameters": hp, **dict(lineage or {})},
        evaluation=report, vocabulary=vocabulary,
    )
    return TrainResult(
        model_dir=Path(model_dir), metrics=metrics, history=result.history, best_epoch=result.best_epoch,
        hyperparameters=hp, evaluation=report, seconds=time.perf_counter() - started, device=str(dev),
        stopped_early=result.stopped_early, stopped_by_callback=result.stopped_by_callback, model=serving,
    )
