"""Chooses the artifact store backend from a URL scheme, importing it lazily."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from slipway.errors import InvalidArgument
from slipway.storage.base import ArtifactStore

if TYPE_CHECKING:
    from slipway.settings import Settings

__all__ = ["BACKENDS", "open_store"]

# scheme -> ("module:Class", extra that provides it)
BACKENDS: dict[str, tuple[str, str | None]] = {
    "file": ("slipway.storage.fsspec_store:FileStore", None),
    "s3": ("slipway.storage.s3_store:S3Store", "s3"),
}


def open_store(url: str, settings: Settings | None = None) -> ArtifactStore:
    """The store for ``url``; a backend with a ``from_settings`` reads its options (endpoint,
    credentials) from ``settings`` when given."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    if scheme not in BACKENDS:
        raise InvalidArgument(
            f"Setting 'artifact_url' has value {url!r}: unknown scheme {scheme!r}. Expected one of "
            + ", ".join(f"{s}://" for s in sorted(BACKENDS)),
            {"field": "artifact_url", "value": url},
        )
    target, extra = BACKENDS[scheme]
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise InvalidArgument(f"Install slipway[{extra}] to use {scheme}:// artifact stores ({exc}).") from exc
    cls = getattr(module, cls_name)
    if settings is not None and hasattr(cls, "from_settings"):
        return cls.from_settings(url, settings)  # type: ignore[no-any-return]
    return cls(url)  # type: ignore[no-any-return]
