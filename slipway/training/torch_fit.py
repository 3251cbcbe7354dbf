"""The training loop of the built-in networks: per-epoch metrics, a callback, early stopping, checkpoints.

The callback receives `(epoch, metrics)` after every epoch with `train:loss`,
`train:accuracy`, `validation:loss` and `validation:accuracy`; a job streams them, a
tuning trial reports them and may raise `StopTraining` (or its own pruning exception,
which propagates) to end the trial.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from slipway.artifacts.flavors.torch_builtin import select_device

__all__ = ["EpochCallback", "FitResult", "StopTraining", "fit", "select_device"]

EpochCallback = Callable[[int, dict[str, float]], None]


class StopTraining(Exception):  # noqa: N818 - a signal, not an error
    """Raise from an epoch callback to end training after this epoch, keeping the best weights."""


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False  # patience ran out
    stopped_by_callback: bool = False  # the callback raised StopTraining
    device: str = "cpu"
    seconds: float = 0.0


def _batches(n: int, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def _trim(xb: torch.Tensor) -> torch.Tensor:
    """Token-id batches: drop the padding columns every row of this batch has."""
    if xb.is_floating_point() or xb.dim() != 2:
        return xb
    longest = int((xb != 0).sum(dim=1).max().clamp(min=1))
    return xb[:, :longest]


def _evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device) -> tuple[
    float, float
]:
    net.eval()
    loss_sum, correct = 0.0, 0
    with torch.no_grad():
        for idx in _batches(len(x), max(batch_size, 256), None):
            xb, yb = _trim(x[idx]).to(device), y[idx].to(device)
            logits = net(xb)
            loss_sum += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
            correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / max(len(x), 1), correct / max(len(x), 1)


def _save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def fit(
    net: nn.Module,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    optimizer: str = "adam",
    early_stopping_patience: int = 3,
    early_stopping_metric: str = "validation:loss",
    seed: int = 0,
    on_epoch: EpochCallback | None = None,
    checkpoint_dir: Path | str | None = None,
    resume: bool = False,
    device: torch.device | str | None = None,
) -> FitResult:
    """Train `net` in place and leave it holding the weights of its best epoch.

    Each epoch writes `last.pt` (model, optimizer, history) to `checkpoint_dir`, and
    `best.pt` when the monitored metric improved; with `resume=True` training continues
    from `last.pt` when it exists.
    """
    started = time.perf_counter()
    device = select_device() if device is None else torch.device(device)
    net.to(device)
    opt: torch.optim.Optimizer
    if optimizer == "sgd":
        opt = torch.optim.SGD(net.parameters(), lr=learning_rate, momentum=0.9)
    else:
        opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    higher_better = early_stopping_metric.endswith("accuracy")
    result = FitResult(device=str(device))
    best_value = -math.inf if higher_better else math.inf
    best_state = copy.deepcopy(net.state_dict())
    stale = 0
    first_epoch = 1
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
        if resume and (ckpt / "last.pt").exists():
            state = torch.load(ckpt / "last.pt", map_location=device, weights_only=False)
            net.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            result.history = state["history"]
            result.best_epoch, best_value, stale = state["best_epoch"], state["best_value"], state["stale"]
            best_state = torch.load(ckpt / "best.pt", map_location=device, weights_only=True)
            first_epoch = state["epoch"] + 1
    generator = torch.Generator().manual_seed(seed)
    for _ in range(1, first_epoch):  # the same shuffles as an uninterrupted run
        torch.randperm(len(x_train), generator=generator)
    for epoch in range(first_epoch, epochs + 1):
        net.train()
        loss_sum, correct = 0.0, 0
        for idx in _batches(len(x_train), batch_size, generator):
            xb, yb = _trim(x_train[idx]).to(device), y_train[idx].to(device)
            opt.zero_grad(set_to_none=True)
            logits = net(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += int((logits.detach().argmax(1) == yb).sum())
        val_loss, val_acc = _evaluate(net, x_val, y_val, batch_size, device)
        metrics = {
            "train:loss": loss_sum / len(x_train),
            "train:accuracy": correct / len(x_train),
            "validation:loss": val_loss,
            "validation:accuracy": val_acc,
        }
        result.history.append(metrics)
        value = metrics[early_stopping_metric]
        improved = value > best_value + 1e-4 if higher_better else value < best_value - 1e-4
        if improved:
            best_value, result.best_epoch, stale = value, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
            if ckpt is not None:
                _save(best_state, ckpt / "best.pt")
        else:
            stale += 1
        if ckpt is not None:
            _save(
                {"epoch": epoch, "model": net.state_dict(), "optimizer": opt.state_dict(), "history": result.history,
                 "best_epoch": result.best_epoch, "best_value": best_value, "stale": stale},
                ckpt / "last.pt",
            )
        try:
            if on_epoch is not None:
                on_epoch(epoch, dict(metrics))
        except StopTraining:
            result.stopped_by_callback = True
            break
        if early_stopping_patience and stale >= early_stopping_patience:
            result.stopped_early = True
            break
    net.load_state_dict(best_state)
    net.eval()
    if result.best_epoch:
        result.best_metrics = dict(result.history[result.best_epoch - 1])
    result.seconds = time.perf_counter() - started
    return result
