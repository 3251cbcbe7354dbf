"""Sends queued asynchronous invocations through their endpoint's replicas and delivers callbacks.

The requests travel the same way as synchronous ones (``slipway.serving.gateway.Gateway``: variant by
weight, the replica with the fewest requests in flight, retried on another replica if one cannot be
reached), from an event loop of this controller's own, at most ``async_concurrency`` per endpoint at
once. A request whose replica was overloaded (503/429) or unreachable goes back to the queue with a
backoff; any other answer is final (2xx: succeeded, else failed with the replica's words). Requests
left ``running`` by a server that stopped are queued again when the controller starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from typing import TYPE_CHECKING

from slipway.controllers.base import Controller
from slipway.errors import SlipwayError, Timeout, Unavailable

if TYPE_CHECKING:
    from slipway.services import Platform
    from slipway.services.async_invocations import Callback, Claim

__all__ = ["AsyncInvocationController"]

log = logging.getLogger("slipway.controllers.async")
TRANSIENT = (429, 502, 503)
CALLBACKS_AT_ONCE = 8


class AsyncInvocationController(Controller):
    name = "async-invocations"
    interval = 0.5
    orphans_every = 10.0

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.service = platform.async_invocations
        self.concurrency = platform.settings.async_concurrency
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.inflight: dict[str, set[str]] = {}  # endpoint -> ids being sent
        self.callbacks: set[str] = set()
        self._futures: set[concurrent.futures.Future[None]] = set()
        self._lock = threading.Lock()
        self._gateway = None
        self._http = None
        self._orphans_at = 0.0

    def start(self) -> None:
        n = self.service.requeue_running()
        if n:
            log.info("Queued %d asynchronous invocation(s) again that an earlier server left running", n)
        if self.loop is None:  # leadership lost and won again: the loop is still there
            self.loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self.loop.run_forever, name="async-invocations-loop", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self.service.wakeup.set()

    def sleep(self, timeout: float, stop: threading.Event) -> None:
        self.service.wakeup.wait(timeout)
        self.service.wakeup.clear()

    def reconcile(self) -> None:
        if self.loop is None:
            return
        routes = self.platform.serving.routes
        for endpoint, waiting in self.service.waiting_endpoints().items():
            if endpoint not in routes:
                continue  # not serving yet (or any more): stays queued
            with self._lock:
                free = self.concurrency - len(self.inflight.get(endpoint, ()))
            for claim in self.service.claim(endpoint, min(free, waiting)):
                with self._lock:
                    self.inflight.setdefault(endpoint, set()).add(claim.id)
                self._submit(self._process(claim))
        with self._lock:
            free = CALLBACKS_AT_ONCE - len(self.callbacks)
            busy = set(self.callbacks)
        if free > 0:
            for cb in self.service.due_callbacks(free, busy):
                with self._lock:
                    self.callbacks.add(cb.id)
                self._submit(self._deliver(cb))
        now = time.monotonic()
        if now - self._orphans_at >= self.orphans_every:
            self._orphans_at = now
            self.service.fail_orphans()

    def _submit(self, coro: object) -> None:
        assert self.loop is not None
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        self._futures.add(fut)
        fut.add_done_callback(self._futures.discard)

    def stop(self) -> None:
        if self.loop is None:
            return
        concurrent.futures.wait(list(self._futures), timeout=5.0)  # the rest are queued again at the next start

        async def _close() -> None:
            if self._gateway is not None:
                await self._gateway.aclose()
            if self._http is not None:
                await self._http.aclose()

        try:
            asyncio.run_coroutine_threadsafe(_close(), self.loop).result(5.0)
        except Exception:
            log.debug("Closing the async-invocation connections failed", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(5.0)

    # -- on the loop -----------------------------------------------------------------------------

    async def _blocking(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def _process(self, claim: Claim) -> None:
        try:
            await self._send(claim)
        except Exception as exc:  # never lose a request to a bug here: it fails with the reason
            log.exception("Asynchronous invocation %s failed unexpectedly", claim.id)
            try:
                await self._blocking(self.service.fail, claim.id, f"{type(exc).__name__}: {exc}")
            except Exception:
                log.exception("Could not record the failure of %s", claim.id)
        finally:
            with self._lock:
                self.inflight.get(claim.endpoint, set()).discard(claim.id)
            self.service.wakeup.set()  # a slot is free

    async def _send(self, claim: Claim) -> None:
        from slipway.serving.gateway import Gateway

        if self._gateway is None:
            self._gateway = Gateway(self.platform.serving)
            self.platform.serving.senders.add(self._gateway)  # woken by route changes while at zero replicas
        body = await self._blocking(self.service.read_input, claim)
        try:
            result = await self._gateway.invoke(claim.endpoint, body, claim.content_type, claim.accept, None,
                                                 claim.id)
        except Unavailable as exc:
            await self._blocking(self.service.retry, claim.id, exc.message)
            return
        except Timeout as exc:
            await self._blocking(self.service.fail, claim.id, exc.message, 504)
            return
        except SlipwayError as exc:
            await self._blocking(self.service.fail, claim.id, exc.message, exc.status_code)
            return
        if result is None:  # the route went away meanwhile (an update, a delete): try again later
            await self._blocking(self.service.retry, claim.id, "the endpoint had no route")
            return
        if 200 <= result.status < 300:
            await self._blocking(self.service.succeed, claim.id, result.body, result.content_type, result.status,
                                 result.variant, result.model)
        elif result.status in TRANSIENT:
            await self._blocking(self.service.retry, claim.id, f"the replica answered {result.status}: "
                                 + _message(result.body))
        else:
            await self._blocking(self.service.fail, claim.id, _message(result.body), result.status, result.variant,
                                 result.model)

    async def _deliver(self, cb: Callback) -> None:
        import httpx

        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        error: str | None = None
        try:
            resp = await self._http.post(cb.url, json=cb.payload,
                                         headers={"User-Agent": "slipway-async-callback", "X-Slipway-Invocation": cb.id})
            if not 200 <= resp.status_code < 300:
                error = f"the callback URL answered {resp.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        try:
            await self._blocking(self.service.callback_done, cb.id, error)
        finally:
            with self._lock:
                self.callbacks.discard(cb.id)
        if error:
            log.info("Callback of asynchronous invocation %s failed (attempt %d): %s", cb.id, cb.attempts + 1, error)


def _message(body: bytes) -> str:
    """The replica's error message from its JSON error body, or the start of the body."""
    import orjson

    try:
        doc = orjson.loads(body)
        msg = doc.get("error", {}).get("message") if isinstance(doc, dict) else None
        if isinstance(msg, str):
            return msg
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return body[:2000].decode("utf-8", "replace")
