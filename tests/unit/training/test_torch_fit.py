"""The fit loop: per-epoch metrics to a callback, pruning, early stopping, checkpoints, resume."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from slipway.training.torch_fit import StopTraining, fit, select_device  # noqa: E402

METRICS = {"train:loss", "train:accuracy", "validation:loss", "validation:accuracy"}


def blobs(n: int = 200, seed: int = 0) -> tuple:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) + y[:, None] * 2.0
    return x[: n // 2], y[: n // 2], x[n // 2 :], y[n // 2 :]


def net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_callback_gets_every_epoch_and_the_model_learns(tmp_path: Path) -> None:
    seen: list[tuple[int, dict]] = []
    result = fit(net(), *blobs(), epochs=5, batch_size=16, learning_rate=0.05, early_stopping_patience=0,
                 on_epoch=lambda e, m: seen.append((e, m)), checkpoint_dir=tmp_path)
    assert [e for e, _ in seen] == [1, 2, 3, 4, 5]
    assert all(set(m) == METRICS for _, m in seen)
    assert result.best_metrics["validation:accuracy"] > 0.8
    assert (tmp_path / "last.pt").exists() and (tmp_path / "best.pt").exists()
    assert torch.load(tmp_path / "last.pt", weights_only=False)["epoch"] == 5


def test_stop_training_from_the_callback_prunes_and_other_errors_propagate() -> None:
    def prune(epoch: int, metrics: dict) -> None:
        raise StopTraining()

    result = fit(net(), *blobs(), epochs=50, batch_size=16, learning_rate=0.05, on_epoch=prune)
    assert result.stopped_by_callback and len(result.history) == 1

    class TrialPruned(Exception):
        pass

    def optuna_like(epoch: int, metrics: dict) -> None:
        raise TrialPruned()

    with pytest.raises(TrialPruned):
        fit(net(), *blobs(), epochs=5, batch_size=16, learning_rate=0.05, on_epoch=optuna_like)


def test_early_stopping_keeps_the_best_epoch() -> None:
    x, y, xv, yv = blobs()
    # validation labels flipped: validation loss rises as the model learns
    result = fit(net(), x, y, xv, 1 - yv, epochs=100, batch_size=16, learning_rate=0.05,
                 early_stopping_patience=2)
    assert result.stopped_early and len(result.history) == result.best_epoch + 2


def test_resume_continues_from_the_last_checkpoint(tmp_path: Path) -> None:
    data = blobs()
    first = fit(net(), *data, epochs=2, batch_size=16, learning_rate=0.05, checkpoint_dir=tmp_path,
                early_stopping_patience=0)
    resumed = fit(net(), *data, epochs=4, batch_size=16, learning_rate=0.05, checkpoint_dir=tmp_path,
                  resume=True, early_stopping_patience=0)
    straight = fit(net(), *data, epochs=4, batch_size=16, learning_rate=0.05, early_stopping_patience=0)
    assert resumed.history[:2] == first.history
    assert len(resumed.history) == 4
    assert resumed.history[3]["train:loss"] == pytest.approx(straight.history[3]["train:loss"], rel=1e-4)


def test_device_follows_sm_num_gpus() -> None:
    assert select_device(env={"SM_NUM_GPUS": "0"}).type == "cpu"
    assert select_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device(env={}).type == expected
