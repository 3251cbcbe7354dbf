"""HTTP plumbing of the SDK: one httpx client, the server's errors re-raised as their classes.

httpx (with httpcore and h11, a sixth of a short CLI command's start-up) is imported when the client first
sends a request through it; the CLI's read-only commands never do (they GET with ``slipway.sdk.plainget``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from slipway.errors import InvalidArgument, ServerNotRunning, SlipwayError, error_class_for_code

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["CHUNK", "Api", "Body", "Progress", "check_url", "drop_none", "error_for", "file_chunks", "large_reads",
           "write_body"]

Progress = Callable[[int], None]  # called with the number of bytes just sent/received
CHUNK = 1024 * 1024
_SENDFILE_PIECE = 8 * CHUNK  # an upload goes to the socket this much per sendfile call (progress between them)


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
        try:
            with self.get_body(path) as body:
                write_body(body, tmp)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    # -- bulk bytes ----------------------------------------------------------------------------
    # A dataset of a gigabyte is a gigabyte through this process. Through httpx every block is parsed and
    # copied three times in Python (h11's buffer, its slices, the file's buffer): on two cores the client's
    # CPU was a large part of a pull. Bulk transfers go over a plain http.client connection instead: an
    # upload is handed to the kernel with sendfile (no copy in this process), a download is read into one
    # reused buffer and written from it. Only when a proxy is configured (which httpx honours and
    # http.client does not) do they take the httpx path.

    def _direct(self) -> bool:
        from urllib.parse import urlsplit
        from urllib.request import getproxies, proxy_bypass

        parts = urlsplit(self.url)
        proxies = getproxies()
        return not (proxies.get(parts.scheme) or proxies.get("all")) or bool(proxy_bypass(parts.hostname or ""))

    def _connection(self) -> tuple[Any, str]:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        if parts.scheme == "https":
            import ssl

            ctx = self.ssl_context()
            if not isinstance(ctx, ssl.SSLContext):
                ctx = ssl.create_default_context() if ctx else ssl._create_unverified_context()  # noqa: S323
            conn: Any = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=self.timeout,
                                                    context=ctx)
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout)
        return conn, parts.path

    def _response(self, conn: Any, method: str, target: str) -> Any:
        """The response of a request sent on ``conn``; a status >= 400 raised as its error class."""
        resp = conn.getresponse()
        if resp.status >= 400:
            body = resp.read()
            raise error_for(resp.status, body, lambda: body.decode("utf-8", "replace"), self.url + target)
        return resp

    def send_file(self, method: str, path: str, f: BinaryIO, size: int, *, params: dict[str, Any],
                  content_type: str = "application/octet-stream", progress: Progress | None = None) -> Any:
        """Send ``size`` bytes of the open file ``f`` (from its start) as the body; the JSON answer."""
        if not self._direct():
            return self.json(method, path, params=params, content=file_chunks(f, progress),
                             headers={"Content-Type": content_type, "Content-Length": str(size)})
        from urllib.parse import urlencode

        conn, prefix = self._connection()
        target = f"{prefix}{path}?{urlencode(params)}" if params else f"{prefix}{path}"
        try:
            try:
                conn.putrequest(method, target, skip_accept_encoding=True)
                for k, v in {**self.headers, "Content-Type": content_type, "Content-Length": str(size)}.items():
                    conn.putheader(k, v)
                conn.endheaders()
            except ConnectionRefusedError:
                raise not_running(self.url) from None
            sent = 0
            try:
                while sent < size:
                    n = conn.sock.sendfile(f, sent, min(_SENDFILE_PIECE, size - sent))
                    if not n:
                        break  # the file is shorter than it was: the server sees a short body
                    sent += n
                    if progress:
                        progress(n)
            except OSError:
                pass  # the server answered early (e.g. refused the upload) and closed: read its answer
            return json.loads(self._response(conn, method, target).read())
        finally:
            conn.close()

    @contextmanager
    def get_body(self, path: str) -> Iterator[Body]:
        """GET ``path``; the response's headers and body (``getheader``, ``readinto``), read as it arrives."""
        if not self._direct():
            ctx, resp = self.stream("GET", path)
            try:
                large_reads(self.http)
                yield _HttpxBody(resp)
            finally:
                ctx.__exit__(None, None, None)
            return
        conn, prefix = self._connection()
        try:
            try:
                conn.request("GET", prefix + path, headers=self.headers)
            except ConnectionRefusedError:
                raise not_running(self.url, "") from None
            yield self._response(conn, "GET", path)
        finally:
            conn.close()


class Body(Protocol):
    def getheader(self, name: str, default: str | None = None) -> str | None: ...

    def readinto(self, b: Any) -> int: ...


class _HttpxBody:
    """An httpx streaming response read as ``Body`` (the path through a proxy)."""

    def __init__(self, resp: httpx.Response) -> None:
        self._resp, self._blocks, self._left = resp, resp.iter_raw(), memoryview(b"")

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._resp.headers.get(name, default)

    def readinto(self, b: Any) -> int:
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = memoryview(block)
        n = min(len(b), len(self._left))
        b[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


_BODY_BUFFER = 4 * CHUNK
_DIRECT_MIN = 64 * CHUNK  # bodies at least this big are written with direct I/O where the filesystem has it
_ALIGN = 4096  # direct I/O wants the buffer, the file offset and the length in whole blocks


def write_body(body: Body, path: Path, progress: Progress | None = None) -> int:
    """Write the rest of ``body`` to a new file at ``path`` from one reused buffer; the bytes written.

    A large body (a Content-Length of 64 MB or more) is written with ``O_DIRECT`` where the OS and the
    filesystem allow it: the bytes go from the buffer to the disk without first being copied into newly
    allocated page-cache pages, which on the benchmark machine cost 4.5–5.5 CPU-s per GB and capped any
    write near 200 MB/s (direct: 1.5 GB/s at 0.07 CPU-s/GB). The last, partial block is written through
    the page cache; so is everything when direct I/O is refused.
    """
    import mmap

    direct = getattr(os, "O_DIRECT", 0) if int(body.getheader("Content-Length") or 0) >= _DIRECT_MIN else 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = -1
    if direct:
        try:
            fd = os.open(path, flags | direct, 0o666)
        except OSError:  # a filesystem without direct I/O (tmpfs, some network filesystems)
            direct = 0
    if fd < 0:
        fd = os.open(path, flags, 0o666)
    buf = mmap.mmap(-1, _BODY_BUFFER)  # page-aligned, as direct I/O needs
    view = memoryview(buf)
    total = 0

    def buffered() -> None:  # from here on through the page cache
        nonlocal direct
        if direct:
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~direct)
            direct = 0

    try:
        while True:
            filled = 0
            while filled < _BODY_BUFFER:
                n = body.readinto(view[filled:])
                if not n:
                    break
                filled += n
                if progress:
                    progress(n)
            if direct and filled % _ALIGN:
                buffered()
            done = 0
            while done < filled:
                try:
                    done += os.write(fd, view[done:filled])
                except OSError:
                    if not direct:
                        raise
                    buffered()  # the filesystem took the open but not the write: the plain way
                    continue
                if direct and done % _ALIGN:
                    buffered()
            total += filled
            if filled < _BODY_BUFFER:
                return total
    finally:
        view.release()
        buf.close()
        os.close(fd)


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
