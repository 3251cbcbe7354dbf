"""The web dashboard: server-rendered pages (Jinja2, htmx, inline SVG charts) and forms that act through the services."""

from __future__ import annotations

from slipway.web.pages import NAV, mount_web

__all__ = ["NAV", "mount_web"]
