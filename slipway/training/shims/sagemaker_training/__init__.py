"""Slipway's stand-in for the sagemaker-training toolkit (see slipway/training/shims/__init__.py)."""

from _slipway_shims import defer

if not defer(__name__):
    __version__ = "0.0+slipway"
