"""The credentials file (``<home>/credentials``, mode 0600): API keys by profile.

Profile ``local`` holds the admin key the first ``slipway up`` created for the home's own
server; ``slipway login --url URL --key KEY`` adds a profile for a remote server. The CLI and
SDK pick the key by URL: a profile whose URL matches, else ``local`` when the URL is the home's
running server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LOCAL", "find_key", "load", "save_profile"]

LOCAL = "local"
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0", "::"}


def load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    profiles = data.get("profiles") if isinstance(data, dict) else None
    return {k: v for k, v in profiles.items() if isinstance(v, dict)} if isinstance(profiles, dict) else {}


def save_profile(path: Path, name: str, api_key: str, url: str | None = None, user: str | None = None) -> None:
    """Add or replace a profile; the file is rewritten atomically with mode 0600."""
    profiles = load(path)
    profiles[name] = {k: v for k, v in {"url": url, "api_key": api_key, "user": user}.items() if v}
    import secrets  # imported here (as make_private_dir): find_key runs at every CLI command, this seldom

    from slipway.home import make_private_dir

    make_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"profiles": profiles}, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _norm(url: str) -> tuple[str, str, int | None]:
    u = urlsplit(url.rstrip("/"))
    host = (u.hostname or "").lower()
    port = u.port or (443 if u.scheme == "https" else 80)
    return u.scheme, "loopback" if host in _LOOPBACK else host, port


def find_key(path: Path, url: str, local_url: str | None) -> str | None:
    """The key for ``url``: a profile with that URL, else ``local`` when ``url`` is the home's server."""
    profiles = load(path)
    target = _norm(url)
    for name, p in profiles.items():
        if name != LOCAL and p.get("url") and _norm(p["url"]) == target and p.get("api_key"):
            return str(p["api_key"])
    local = profiles.get(LOCAL, {})
    if local.get("api_key") and local_url and _norm(local_url) == target:
        return str(local["api_key"])
    return None
