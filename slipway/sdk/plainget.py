"""SDK: the GET of the plain reads (slipway.sdk.plain): HTTP/1.1 over a socket, without httpx or http.client.

httpx with httpcore and h11 (imported, then set up for a first request) was about a sixth of `slipway jobs list`,
a command that sends one GET and prints the answer, and the standard library's http.client another tenth (it
imports the email package and ssl for any URL) (see "CLI start-up" in docs/developing.md). A ``PlainGet`` sends
that GET as the SDK's client would: the same URL (the server's URL, then the path, then the query as httpx
encodes it), the same headers (``User-Agent`` and the API key's ``Authorization``), the same timeout, the same
certificate checks for https (``SLIPWAY_CA_BUNDLE``, else ``SSL_CERT_FILE``/``SSL_CERT_DIR`` or certifi's bundle,
as httpx does), no redirects followed, and the same errors: ``ServerNotRunning`` (with the SDK's message) when
nothing answers or the TLS handshake fails, the server's error class for a JSON error, and
"HTTP <status> from <url>: <body>" for any other answer of 400 or more. It reads what HTTP/1.1 servers send back
(a Content-Length or chunked body, or one up to the end of the connection) and keeps the connection open for
the next page. Where the environment names a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, any case),
which httpx honours, the GET goes through the SDK's httpx client instead, so proxies work exactly as they do.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from slipway.errors import SlipwayError, Timeout
from slipway.sdk.http import Api, error_for, not_running

__all__ = ["PlainGet", "proxied"]

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
MAX_LINE = 65536  # the longest status or header line read, as http.client's limit


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


class _Closed(Exception):
    """The server closed the connection before it sent a whole answer."""


class PlainGet:
    """GET a path of an ``Api``'s server and parse the JSON answer, on one kept-alive connection."""

    def __init__(self, api: Api) -> None:
        from urllib.parse import urlsplit

        self._api = api
        parts = urlsplit(api.url)
        self._tls = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._tls else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_header = host if parts.port in (None, 443 if self._tls else 80) else f"{host}:{parts.port}"
        self._prefix = parts.path  # a server behind a path (https://host/slipway): its paths are under it
        self._sock: socket.socket | None = None
        self._file: Any = None

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
        if self._sock is not None:
            self._file.close()
            self._sock.close()
            self._sock = self._file = None

    def _connect(self) -> None:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=self._api.timeout)
        except OSError:  # refused, no such host, connect timeout
            raise not_running(self._api.url) from None
        if self._tls:
            try:
                sock = _tls_context(self._api).wrap_socket(sock, server_hostname=self._host)
            except OSError:  # the handshake, an unknown certificate (ssl.SSLError is an OSError)
                sock.close()
                raise not_running(self._api.url) from None
        self._sock, self._file = sock, sock.makefile("rb")

    def _get(self, url: str) -> tuple[int, bytes, str | None]:
        """Status, body and charset of GET ``url``. A kept-alive connection the server closed meanwhile is
        replaced once, as a new connection would have been opened."""
        target = self._prefix + url[len(self._api.url):]
        headers = "".join(f"{k}: {v}\r\n" for k, v in self._api.headers.items())
        request = (f"GET {target} HTTP/1.1\r\nHost: {self._host_header}\r\nAccept: */*\r\n"
                   f"Accept-Encoding: identity\r\n{headers}\r\n").encode()
        for attempt in (1, 2):
            reused = self._sock is not None
            if self._sock is None:
                self._connect()
            try:
                self._sock.sendall(request)  # type: ignore[union-attr]
                return self._read_answer()
            except TimeoutError:
                self.close()
                raise Timeout(f"The server at {self._api.url} sent no answer within {self._api.timeout:g} s "
                              f"(GET {url}).") from None
            except (_Closed, ConnectionError) as exc:
                self.close()
                if reused and attempt == 1 and not (isinstance(exc, _Closed) and exc.args):
                    continue
                raise SlipwayError(f"The server at {self._api.url} closed the connection before it answered "
                                   f"(GET {url}).") from None
            except ValueError:  # not HTTP
                self.close()
                raise SlipwayError(f"The server at {self._api.url} did not answer in HTTP/1.1 (GET {url}).") from None
        raise AssertionError("unreachable")

    def _line(self) -> bytes:
        line = self._file.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise ValueError("line too long")
        return line  # type: ignore[no-any-return]

    def _read_answer(self) -> tuple[int, bytes, str | None]:
        while True:
            line = self._line()
            if not line:
                raise _Closed()  # nothing at all: an idle connection the server had closed
            version, _, rest = line.decode("latin-1").partition(" ")
            if not version.startswith("HTTP/1."):
                raise ValueError(line)
            status = int(rest[:3])
            headers: dict[str, str] = {}
            while True:
                h = self._line()
                if h in (b"\r\n", b"\n"):
                    break
                if not h:
                    raise _Closed("in the headers")
                name, _, value = h.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            if 100 <= status < 200:
                continue  # an interim answer: the real one follows
            break
        connection = headers.get("connection", "").lower()
        close = "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection)
        if status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunks()
        elif "content-length" in headers:
            size = int(headers["content-length"])
            body = self._file.read(size)
            if len(body) < size:
                raise _Closed("in the body")
        else:
            body, close = self._file.read(), True
        if close:
            self.close()
        return status, body, _charset(headers.get("content-type", ""))

    def _chunks(self) -> bytes:
        parts = []
        while True:
            size = int(self._line().split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(parts)
            chunk = self._file.read(size + 2)
            if len(chunk) < size + 2:
                raise _Closed("in the body")
            parts.append(chunk[:size])


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"') or None
    return None


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
