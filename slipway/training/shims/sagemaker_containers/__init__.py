"""Slipway's stand-in for sagemaker-containers (see slipway/training/shims/__init__.py)."""

from _slipway_shims import defer

if not defer(__name__):
    from _slipway_shims import Environment as _Environment

    def training_env() -> _Environment:
        """The job's environment (channel_input_dirs, hyperparameters, model_dir, hosts…)."""
        return _Environment()
