"""Executors run training jobs' processes; chosen by the ``compute_url`` setting."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from slipway.compute.base import Executor, ProcessState, Resources
from slipway.errors import InvalidArgument

if TYPE_CHECKING:
    from slipway.sandbox import Sandbox

__all__ = ["BACKENDS", "Executor", "ProcessState", "Resources", "open_executor", "scheme_of"]

# scheme -> ("module:Class", extra that provides it)
BACKENDS: dict[str, tuple[str, str | None]] = {
    "local": ("slipway.compute.local:LocalExecutor", None),
    "ray": ("slipway.compute.ray_executor:RayExecutor", "ray"),
}
_HOST_PORT = re.compile(r"^[A-Za-z0-9_.\-]+:\d{1,5}$")  # a Ray cluster's GCS address


def scheme_of(url: str) -> str:
    """``local``, ``ray`` (``ray``, ``ray://host:port``, ``host:port``) or what the URL names (unknown)."""
    if _HOST_PORT.match(url):
        return "ray"
    return url.split("://", 1)[0] if "://" in url else url


def open_executor(url: str, on_exit: Callable[[], None] | None = None, concurrency: int = 0,
                  sandbox: Sandbox | None = None) -> Executor:
    """The executor for ``url``; ``sandbox`` confines every job process it starts (None: unconfined)."""
    scheme = scheme_of(url)
    if scheme not in BACKENDS:
        raise InvalidArgument(
            f"Setting 'compute_url' has value {url!r}. Expected 'local', 'ray' (the Ray cluster of this machine "
            "or RAY_ADDRESS), 'ray://host:port' (Ray Client) or 'host:port' (a Ray head's GCS address).",
            {"field": "compute_url", "value": url},
        )
    target, extra = BACKENDS[scheme]
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InvalidArgument(f"Install slipway[{extra}] to use {scheme} compute ({exc}).") from exc
    extra_kw = {} if scheme == "local" else {"url": url}
    executor: Executor = getattr(module, cls_name)(on_exit=on_exit, concurrency=concurrency, sandbox=sandbox,
                                                   **extra_kw)
    return executor
