"""`sequence-classifier`: a deep-learning built-in in PyTorch (see docs/deep-learning.md)."""

from __future__ import annotations

from slipway.algorithms._deep import deep_algorithm

ALGORITHM = deep_algorithm("sequence-classifier")
