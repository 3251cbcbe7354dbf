"""The built-in networks in PyTorch: a small CNN for images and an embedding + LSTM for text.

Both return logits for training; `ServingModel` wraps one with its input normalisation
and a softmax so the saved TorchScript `model.pt` maps raw inputs to probabilities.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["ImageCNN", "SequenceClassifier", "ServingModel", "build_network", "make_activation"]


def make_activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if name == "tanh":
        return nn.Tanh()
    if name == "sigmoid":
        return nn.Sigmoid()
    raise ValueError(f"unknown activation {name!r}")


class ImageCNN(nn.Module):
    """conv → conv → max-pool → dropout → dense → dropout → logits (Keras mnist_cnn, sized by hp).

    Input: float tensor [N, C, H, W]. 'same' padding keeps images as small as 8x8 usable.
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        num_classes: int,
        filters: int = 32,
        kernel_size: int = 3,
        dense_units: int = 128,
        dropout: float = 0.25,
        dense_dropout: float = 0.5,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.features = nn.Sequential(
            nn.Conv2d(channels, filters, kernel_size, padding=pad),
            make_activation(activation),
            nn.Conv2d(filters, filters * 2, kernel_size, padding=pad),
            make_activation(activation),
            nn.MaxPool2d(2) if min(height, width) >= 2 else nn.Identity(),
            nn.Dropout(dropout),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, channels, height, width)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, dense_units),
            make_activation(activation),
            nn.Dropout(dense_dropout),
            nn.Linear(dense_units, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class SequenceClassifier(nn.Module):
    """embedding → LSTM → (dense) → logits over padded token ids (0 is padding).

    The LSTM's output at each text's last real token is the text's representation, so
    the padding never reaches the classifier and no packing is needed (TorchScript- and
    ONNX-friendly).
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 64,
        lstm_units: int = 64,
        dense_units: int = 0,
        dropout: float = 0.2,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, lstm_units, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        layers: list[nn.Module] = []
        width = lstm_units
        if dense_units > 0:
            layers += [nn.Linear(lstm_units, dense_units), make_activation(activation), nn.Dropout(dropout)]
            width = dense_units
        layers.append(nn.Linear(width, num_classes))
        self.head = nn.Sequential(*layers)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lengths = (ids != 0).sum(dim=1).clamp(min=1)
        out, _ = self.lstm(self.dropout(self.embedding(ids)))
        index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, out.size(2))
        last = out.gather(1, index).squeeze(1)
        return self.head(self.dropout(last))


class ServingModel(nn.Module):
    """Raw input → probabilities: (x / scale - mean) / std for images, then the net, then softmax."""

    def __init__(self, net: nn.Module, scale: float = 1.0, mean: float = 0.0, std: float = 1.0,
                 channels_last: bool = False) -> None:
        super().__init__()
        self.net = net
        # plain floats: TorchScript keeps them as constants of the saved module
        self.scale = float(scale)
        self.mean = float(mean)
        self.std = float(std)
        self.channels_last = channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_floating_point():
            if self.channels_last:  # [N, H, W, C] as users send images → [N, C, H, W]
                x = x.permute(0, 3, 1, 2)
            x = (x / self.scale - self.mean) / self.std
        return torch.softmax(self.net(x), dim=1)


def build_network(algorithm: str, hp: dict[str, Any], shape: dict[str, Any], num_classes: int) -> nn.Module:
    """The untrained network of `algorithm` for data of `shape` and `num_classes` classes."""
    if algorithm == "image-classifier":
        return ImageCNN(
            channels=shape["channels"], height=shape["height"], width=shape["width"], num_classes=num_classes,
            filters=hp["filters"], kernel_size=hp["kernel_size"], dense_units=hp["dense_units"],
            dropout=hp["dropout"], dense_dropout=hp["dense_dropout"], activation=hp["activation"],
        )
    if algorithm == "sequence-classifier":
        return SequenceClassifier(
            vocab_size=shape["vocab_size"], num_classes=num_classes, embedding_dim=hp["embedding_dim"],
            lstm_units=hp["lstm_units"], dense_units=hp["dense_units"], dropout=hp["dropout"],
            activation=hp["activation"],
        )
    raise ValueError(f"unknown algorithm {algorithm!r}")
