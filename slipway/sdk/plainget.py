"""SDK: the GET of the plain reads (slipway.sdk.plain) over the standard library's http.client, not httpx.

httpx with httpcore and h11 (imported, then set up for a first request) was about a sixth of `slipway jobs list`,
a command that sends one GET and prints the answer (see "CLI start-up" in docs/developing.md). A ``PlainGet``
sends that GET as the SDK's client would: the same URL (the server's URL, then the path, then the query as
httpx encodes it), the same headers (``User-Agent`` and the API key's ``Authorization``), the same timeout, the
same certificate checks for https (``SLIPWAY_CA_BUNDLE``, else ``SSL_CERT_FILE``/``SSL_CERT_DIR`` or certifi's
bundle, as httpx does), no redirects followed, and the same errors: ``ServerNotRunning`` (with the SDK's
message) when nothing answers or the TLS handshake fails, the server's error class for a JSON error, and
"HTTP <status> from <url>: <body>" for any other answer of 400 or more.
Where the environment names a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, any case), which httpx
honours, the GET goes through the SDK's httpx client instead, so proxies keep working exactly as they do.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from slipway.errors import SlipwayError, Timeout
from slipway.sdk.http import Api, error_for, not_running

if TYPE_CHECKING:
    import http.client

__all__ = ["PlainGet", "proxied"]

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxied() -> bool:
    """Whether the environment names a proxy that httpx would use (urllib's getproxies reads these, any case)."""
    return any(value and name.lower() in PROXY_VARIABLES for name, value in os.environ.items())


def _query_value(value: Any) -> str:
    """A query parameter's value as httpx writes it (primitive_value_to_str)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


class PlainGet:
    """GET a path of an ``Api``'s server and parse the JSON answer, on one kept-alive connection."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._conn: http.client.HTTPConnection | None = None

    def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        import json

        if proxied():
            return self._api.json("GET", path, params=params)
        url = self._api.url + path
        if params:
            from urllib.parse import urlencode

            url += "?" + urlencode([(k, _query_value(v)) for k, v in params.items()])
        status, body, charset = self._get(url)
        if status >= 400:
            raise error_for(status, body, lambda: body.decode(charset or "utf-8", errors="replace"), url)
        return json.loads(body)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self._api.url)
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=self._api.timeout,
                                               context=_tls_context(self._api))
        return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self._api.timeout)

    def _get(self, url: str) -> tuple[int, bytes, str | None]:
        """Status, body and charset of GET ``url``; a kept-alive connection the server has closed meanwhile is
        replaced once (as a new connection would have been opened)."""
        import http.client

        target = url[len(self._api.url):] or "/"
        for attempt in (1, 2):
            reused = self._conn is not None
            if self._conn is None:
                self._conn = self._connection()
                try:
                    self._conn.connect()
                except OSError:  # refused, no such host, TLS handshake or certificate, connect timeout
                    self.close()
                    raise not_running(self._api.url) from None
            try:
                self._conn.request("GET", target, headers=self._api.headers)
                resp = self._conn.getresponse()
                body = resp.read()
            except TimeoutError:
                self.close()
                raise Timeout(f"The server at {self._api.url} sent no answer within {self._api.timeout:g} s "
                              f"(GET {url}).") from None
            except (http.client.RemoteDisconnected, ConnectionError, http.client.IncompleteRead) as exc:
                self.close()
                if reused and attempt == 1 and not isinstance(exc, http.client.IncompleteRead):
                    continue
                raise SlipwayError(f"The server at {self._api.url} closed the connection before it answered "
                                   f"(GET {url}).") from None
            if resp.will_close:
                self.close()
            return resp.status, body, resp.headers.get_content_charset()
        raise AssertionError("unreachable")


def _tls_context(api: Api) -> Any:
    """The SSL context httpx would build for the SDK's client: the SDK's own (a CA bundle), else httpx's default
    for ``verify=True`` (SSL_CERT_FILE, SSL_CERT_DIR, else certifi's bundle), offering HTTP/1.1 as httpcore does."""
    import ssl

    ctx = api.ssl_context()
    if ctx is True:
        if os.environ.get("SSL_CERT_FILE"):
            ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
        elif os.environ.get("SSL_CERT_DIR"):
            ctx = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
        else:
            import certifi

            ctx = ssl.create_default_context(cafile=certifi.where())
    elif ctx is False:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
