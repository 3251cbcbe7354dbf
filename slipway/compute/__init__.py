"""Executors run training jobs' processes; chosen by the ``compute_url`` setting."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from slipway.compute.base import Executor, ProcessState
from slipway.errors import InvalidArgument

if TYPE_CHECKING:
    from slipway.sandbox import Sandbox

__all__ = ["BACKENDS", "Executor", "ProcessState", "open_executor"]

# scheme -> ("module:Class", extra that provides it)
BACKENDS: dict[str, tuple[str, str | None]] = {
    "local": ("slipway.compute.local:LocalExecutor", None),
}


def open_executor(url: str, on_exit: Callable[[], None] | None = None, concurrency: int = 0,
                  sandbox: Sandbox | None = None) -> Executor:
    """The executor for ``url``; ``sandbox`` confines every job process it starts (None: unconfined)."""
    scheme = url.split("://", 1)[0] if "://" in url else url
    if scheme not in BACKENDS:
        raise InvalidArgument(
            f"Setting 'compute_url' has value {url!r}. Expected one of: {', '.join(sorted(BACKENDS))}.",
            {"field": "compute_url", "value": url},
        )
    target, extra = BACKENDS[scheme]
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InvalidArgument(f"Install slipway[{extra}] to use {scheme} compute ({exc}).") from exc
    executor: Executor = getattr(module, cls_name)(on_exit=on_exit, concurrency=concurrency, sandbox=sandbox)
    return executor
