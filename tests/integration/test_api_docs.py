"""/docs (Swagger UI) and /redoc work without internet: every script, stylesheet and icon they reference is
served by the platform itself."""

from __future__ import annotations

import re

import pytest

from tests.support.servers import SlipwayServer


@pytest.mark.parametrize(("page", "needs"), [("/docs", ("swagger-ui-bundle.js", "swagger-ui.css")),
                                             ("/redoc", ("redoc.standalone.js",))])
def test_api_pages_reference_only_local_assets(sqlite_server: SlipwayServer, page: str, needs: tuple[str, ...]
                                               ) -> None:
    with sqlite_server.http(api_key=None) as http:  # open pages: no key
        html = http.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        refs = re.findall(r'(?:src|href)="([^"]+)"', html.text)
        assert refs and all(r.startswith("/") and not r.startswith("//") for r in refs), refs
        assert "https://" not in html.text and "http://" not in html.text  # no CDN, no fonts, no validator
        for name in needs:
            assert any(r.endswith(name) for r in refs), (name, refs)
        for ref in refs:
            asset = http.get(ref)
            assert asset.status_code == 200 and len(asset.content) > 0, ref
        assert "'/openapi.json'" in html.text or '"/openapi.json"' in html.text
        assert http.get("/openapi.json").status_code == 200
