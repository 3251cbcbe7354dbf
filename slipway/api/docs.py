"""The API's own pages, /docs (Swagger UI) and /redoc, with their scripts served from the package.

FastAPI's defaults load Swagger UI and ReDoc from a CDN, so on a machine without internet both pages were
blank. The bundles ship in ``slipway/web/static`` (versions and licences in THIRD-PARTY.txt there) and are
served by the /static mount; no page of the platform reaches outside it.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

__all__ = ["REDOC_JS", "SWAGGER_CSS", "SWAGGER_JS", "mount_docs"]

SWAGGER_JS = "/static/swagger-ui/swagger-ui-bundle.js"
SWAGGER_CSS = "/static/swagger-ui/swagger-ui.css"
FAVICON = "/static/swagger-ui/favicon-32x32.png"
REDOC_JS = "/static/redoc/redoc.standalone.js"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def mount_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add /docs, /docs/oauth2-redirect and /redoc to ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    title = f"{app.title} API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        # validatorUrl None: Swagger UI would otherwise send the spec to validator.swagger.io for a badge.
        return get_swagger_ui_html(openapi_url=openapi_url, title=title, swagger_js_url=SWAGGER_JS,
                                   swagger_css_url=SWAGGER_CSS, swagger_favicon_url=FAVICON,
                                   oauth2_redirect_url=OAUTH2_REDIRECT, swagger_ui_parameters={"validatorUrl": None})

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=title, redoc_js_url=REDOC_JS, redoc_favicon_url=FAVICON,
                              with_google_fonts=False)
