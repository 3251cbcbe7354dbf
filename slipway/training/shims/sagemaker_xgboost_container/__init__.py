"""Slipway's stand-in for SageMaker's XGBoost container modules (see slipway/training/shims/__init__.py)."""

from _slipway_shims import defer

defer(__name__)
