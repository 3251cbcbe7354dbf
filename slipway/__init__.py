"""Slipway: a self-hosted machine-learning platform (datasets, training, registry, endpoints)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Client", "__version__", "log_metric"]

if TYPE_CHECKING:
    from slipway.client import Client
    from slipway.training.metrics import log_metric


def __getattr__(name: str) -> Any:
    # The SDK is imported on first use so `import slipway` stays light inside jobs.
    if name == "Client":
        from slipway.client import Client

        return Client
    if name == "log_metric":
        from slipway.training.metrics import log_metric

        return log_metric
    raise AttributeError(f"module 'slipway' has no attribute {name!r}")
