"""HTTP plumbing of the SDK: one httpx client, the server's errors re-raised as their classes.

httpx (with httpcore and h11, a sixth of a short CLI command's start-up) is imported when the client first
sends a request through it; the CLI's read-only commands never do (they GET with ``slipway.sdk.plainget``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from slipway.errors import InvalidArgument, ServerNotRunning, SlipwayError, error_class_for_code

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["CHUNK", "Api", "Progress", "check_url", "drop_none", "error_for", "file_chunks", "large_reads"]

Progress = Callable[[int], None]  # called with the number of bytes just sent/received
CHUNK = 1024 * 1024


def drop_none(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def error_for(status_code: int, body: bytes, text: Callable[[], str], url: str) -> SlipwayError:
    """The error of an answer with ``status_code`` >= 400: the server's class (from the ``code`` of its
    ``{"error": …}`` body), else a SlipwayError naming the status, the URL and the start of the body."""
    import json

    try:
        err = json.loads(body)["error"]
        cls = error_class_for_code(err.get("code", ""))
        exc = cls(err.get("message", text()), err.get("details") or {})
        exc.status_code = status_code
        exc.request_id = err.get("request_id")  # type: ignore[attr-defined]
    except (ValueError, KeyError, TypeError, AttributeError):
        exc = SlipwayError(f"HTTP {status_code} from {url}: {text()[:500]}")
        exc.status_code = status_code
    return exc


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    raise error_for(resp.status_code, resp.content, lambda: resp.text, str(resp.request.url))


def not_running(url: str, hint: str = ", or point SLIPWAY_URL at a running server") -> ServerNotRunning:
    return ServerNotRunning(f"No Slipway server answers at {url}. Start one with `slipway up` (or `make run`){hint}.")


def check_url(url: str, name: str = "url") -> str:
    """``url`` if it is a server URL (http:// or https://, a host, an optional port); else InvalidArgument naming
    ``name`` (the setting, or the CLI's --url), the value and what is expected."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number, an unclosed [IPv6 address
        ok = False
    if not ok or any(c.isspace() for c in url):
        raise InvalidArgument(f"{name} has value {url!r}. Expected a server URL: http:// or https://, a host and "
                              "an optional port, e.g. http://127.0.0.1:8080.", {"field": name, "value": url})
    return url


class Api:
    """HTTP plumbing shared by the resource clients."""

    def __init__(self, url: str, api_key: str | None, timeout: float, verify: bool | str) -> None:
        self.url = check_url(url).rstrip("/")
        self.headers = {"User-Agent": "slipway-sdk"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.timeout = timeout
        self.verify = verify  # True (the system's CAs as httpx finds them) or a CA bundle (SLIPWAY_CA_BUNDLE)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What the client verifies the server's certificate with (``verify`` of httpx.Client)."""
        import ssl

        if isinstance(self.verify, str):  # a CA bundle (SLIPWAY_CA_BUNDLE), e.g. for a self-signed certificate
            return ssl.create_default_context(cafile=self.verify)
        if self.url.startswith("http://"):
            # Plain HTTP needs no TLS, and httpx's default context (loading the CA bundle) was a fifth of a short
            # CLI command. Every request goes to this URL (redirects are not followed); should one go to an
            # https:// URL, this context trusts no certificate, so it fails rather than skip verification.
            return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return self.verify

    @cached_property
    def http(self) -> httpx.Client:
        """The httpx client, made (and httpx imported) on first use."""
        import httpx

        return httpx.Client(base_url=self.url, headers=self.headers, timeout=self.timeout, verify=self.ssl_context())

    def close(self) -> None:
        if "http" in self.__dict__:
            self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        import httpx

        try:
            resp = self.http.request(method, path, **kw)
        except httpx.ConnectError:
            raise not_running(self.url) from None
        _raise_for(resp)
        return resp

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return self.request(method, path, **kw).json()

    def stream(self, method: str, path: str, **kw: Any) -> Any:
        import httpx

        try:
            ctx = self.http.stream(method, path, **kw)
            resp = ctx.__enter__()
        except httpx.ConnectError:
            raise not_running(self.url, "") from None
        if resp.status_code >= 400:
            resp.read()
            ctx.__exit__(None, None, None)
            _raise_for(resp)
        return ctx, resp

    def download(self, path: str, target: Path) -> Path:
        """Stream GET ``path`` into ``target`` atomically (a temp file renamed into place)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part")
        ctx, resp = self.stream("GET", path)
        try:
            large_reads(self.http)
            with open(tmp, "wb") as f:
                for block in resp.iter_bytes(CHUNK):
                    f.write(block)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
            ctx.__exit__(None, None, None)
        return target


def file_chunks(f: BinaryIO, progress: Progress | None) -> Iterator[bytes]:
    while True:
        block = f.read(CHUNK)
        if not block:
            return
        if progress:
            progress(len(block))
        yield block


def large_reads(http: httpx.Client, size: int = CHUNK) -> None:
    """Let this client's open HTTP/1.1 connections read the socket ``size`` bytes at a time.

    httpcore reads 64 KB per call; a large download then costs a parse and a Python round per 64 KB,
    and the client's CPU was the limit of a pull on two cores (1 MB reads: about 40 % less CPU per
    GB). Only this client's own connections change (no library-wide setting); should httpcore's
    internals differ, the reads simply stay at their default size.
    """
    try:
        for conn in http._transport._pool.connections:  # type: ignore[attr-defined]
            inner = getattr(conn, "_connection", None)
            if inner is not None and hasattr(inner, "READ_NUM_BYTES"):
                inner.READ_NUM_BYTES = size
    except AttributeError:
        pass
