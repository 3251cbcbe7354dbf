"""SDK: real-time endpoints (deploy, list, get, metrics, capture, invoke, update, rollback, delete)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from slipway.errors import InvalidArgument, Timeout
from slipway.schemas import (
    AsyncInvocationView,
    CaptureConfig,
    CaptureRecords,
    EndpointMetrics,
    EndpointView,
    Page,
    ScalingSpec,
    ServingOptions,
    VariantSpec,
)
from slipway.sdk.http import Api, _raise_for, drop_none

__all__ = ["Endpoints", "parse_variant"]

SETTLED = ("InService", "Failed")


def parse_variant(text: str) -> VariantSpec:
    """``a=cancer:1:90`` -> variant a serving cancer:1 with weight 90 (weight optional; ``name@alias`` works)."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise InvalidArgument(f"Variant {text!r} is not valid. Expected NAME=MODEL[:VERSION][:WEIGHT], "
                              "e.g. a=cancer:1:90.", {"field": "variant", "value": text})
    parts = rest.split(":")
    weight = 1.0
    if len(parts) == 3 or ("@" in parts[0] and len(parts) == 2):
        try:
            weight = float(parts[-1])
        except ValueError:
            raise InvalidArgument(f"Variant {text!r} has weight {parts[-1]!r}. Expected a number.",
                                  {"field": "variant", "value": text}) from None
        parts = parts[:-1]
    return VariantSpec(name=name, model=":".join(parts), weight=weight)


def _variants(model: str | None, variants: Sequence[VariantSpec | str] | None, replicas: int | None,
              serving: ServingOptions | dict[str, Any] | None = None) -> list[dict[str, Any]]:
    if model and variants:
        raise InvalidArgument("Give either a model or variants, not both.", {"field": "variants"})
    if model:
        specs = [VariantSpec(name="primary", model=model, replicas=replicas or 1)]
    elif variants:
        specs = [parse_variant(v) if isinstance(v, str) else v for v in variants]
        if replicas:
            specs = [s.model_copy(update={"replicas": replicas}) for s in specs]
    else:
        raise InvalidArgument("Give a model (--model cancer:1) or variants (--variant a=cancer:1:90).",
                              {"field": "model"})
    if serving is not None:
        options = ServingOptions.model_validate(serving)
        specs = [s.model_copy(update={"serving": options}) for s in specs]
    return [s.model_dump() for s in specs]


def _scaling(scaling: ScalingSpec | dict[str, Any] | None) -> dict[str, Any] | None:
    """Only the fields given, so that the server's rules (serverless sets min_replicas 0) see what was asked."""
    if scaling is None:
        return None
    spec = ScalingSpec.model_validate(scaling) if isinstance(scaling, dict) else scaling
    return spec.model_dump(exclude_unset=True)


class Endpoints:
    def __init__(self, api: Api) -> None:
        self._api = api

    def deploy(self, name: str, model: str | None = None, *, variants: Sequence[VariantSpec | str] | None = None,
               replicas: int | None = None, wait: bool = True, timeout: float = 300.0,
               serving: ServingOptions | dict[str, Any] | None = None,
               scaling: ScalingSpec | dict[str, Any] | None = None) -> EndpointView:
        """``serving``: batching, queue bound, workers, ONNX on/off for every variant (ServingOptions).

        ``scaling``: autoscaling (ScalingSpec: min/max replicas, target in flight, scale-in delay, idle to zero,
        serverless with a concurrency cap, the queue while no replica is up); the view's ``warnings`` says
        when the queue deadline is shorter than the model's measured cold start."""
        body: dict[str, Any] = {"variants": _variants(model, variants, replicas, serving)}
        if scaling is not None:
            body["scaling"] = _scaling(scaling)
        view = EndpointView.model_validate(self._api.json("POST", f"/api/v1/endpoints/{name}", json=body))
        return _keep_warnings(view, self.wait(name, timeout)) if wait else view

    def update(self, name: str, model: str | None = None, *, variants: Sequence[VariantSpec | str] | None = None,
               replicas: int | None = None, wait: bool = True, timeout: float = 300.0,
               serving: ServingOptions | dict[str, Any] | None = None,
               scaling: ScalingSpec | dict[str, Any] | None = None, fixed: bool = False) -> EndpointView:
        """New variants (a model), new ``scaling``, or ``fixed`` (autoscaling off); what is left out stays."""
        body: dict[str, Any] = {}
        if model or variants or (scaling is None and not fixed):
            body["variants"] = _variants(model, variants, replicas, serving)
        if scaling is not None:
            body["scaling"] = _scaling(scaling)
        if fixed:
            body["fixed"] = True
        view = EndpointView.model_validate(self._api.json("PATCH", f"/api/v1/endpoints/{name}", json=body))
        return _keep_warnings(view, self.wait(name, timeout)) if wait else view

    def scaling(self, name: str) -> Any:
        """The autoscaler's view of ``name`` (replicas now and desired, queue depth, recent decisions), or None."""
        return self.get(name).scaling

    def rollback(self, name: str, wait: bool = True, timeout: float = 300.0) -> EndpointView:
        view = EndpointView.model_validate(self._api.json("POST", f"/api/v1/endpoints/{name}/rollback"))
        return self.wait(name, timeout) if wait else view

    def get(self, name: str) -> EndpointView:
        return EndpointView.model_validate(self._api.json("GET", f"/api/v1/endpoints/{name}"))

    def metrics(self, name: str, since: str = "1h", until: str | None = None) -> EndpointMetrics:
        """Per minute and variant: requests, req/s, p50/p95/p99 latency, 4xx, 5xx.

        ``since``/``until``: a duration back from now (``15m``, ``1h``, ``2d``) or an ISO time.
        """
        data = self._api.json("GET", f"/api/v1/endpoints/{name}/metrics", params=drop_none(since=since, until=until))
        return EndpointMetrics.model_validate(data)

    def set_capture(self, name: str, percent: float) -> CaptureConfig:
        """Capture ``percent`` % of requests and answers (0 turns capture off; the default is 100)."""
        data = self._api.json("PUT", f"/api/v1/endpoints/{name}/capture", json={"percent": percent})
        return CaptureConfig.model_validate(data)

    def capture(self, name: str, since: str = "1h", until: str | None = None, limit: int = 100) -> CaptureRecords:
        """Captured records (SageMaker's data-capture format) between ``since`` and ``until``, the newest ``limit``."""
        data = self._api.json("GET", f"/api/v1/endpoints/{name}/capture",
                              params=drop_none(since=since, until=until, limit=limit))
        return CaptureRecords.model_validate(data)

    def list(self, limit: int | None = None, page_token: str | None = None) -> Page[EndpointView]:
        data = self._api.json("GET", "/api/v1/endpoints", params=drop_none(limit=limit, page_token=page_token))
        return Page[EndpointView].model_validate(data)

    def delete(self, name: str, wait: bool = True, timeout: float = 60.0) -> EndpointView:
        from slipway.errors import NotFound

        view = EndpointView.model_validate(self._api.json("DELETE", f"/api/v1/endpoints/{name}"))
        deadline = time.monotonic() + timeout
        while wait and time.monotonic() < deadline:
            try:
                self.get(name)
            except NotFound:
                break
            time.sleep(0.1)
        return view

    def wait(self, name: str, timeout: float = 300.0) -> EndpointView:
        """Poll until the latest deployment finished (InService or Failed)."""
        deadline = time.monotonic() + timeout
        while True:
            view = self.get(name)
            busy = view.deployments and view.deployments[0].status == "InProgress"
            if view.status in SETTLED and not busy:
                return view
            if time.monotonic() > deadline:
                raise Timeout(f"Endpoint {name!r} is still {view.status} after {timeout:g} s.", {"endpoint": name})
            time.sleep(0.05)

    def invoke_raw(self, name: str, data: bytes | str, content_type: str = "application/json",
                   accept: str = "application/json", variant: str | None = None) -> httpx.Response:
        """POST to /endpoints/{name}/invocations; returns the response (errors raised as Slipway errors)."""
        headers = {"Content-Type": content_type, "Accept": accept}
        if variant:
            headers["X-Slipway-Target-Variant"] = variant
        body = data.encode() if isinstance(data, str) else data
        resp = self._api.http.post(f"/endpoints/{name}/invocations", content=body, headers=headers)
        _raise_for(resp)
        return resp

    def invoke(self, name: str, payload: Any = None, *, data: bytes | str | None = None,
               content_type: str = "application/json", accept: str = "application/json",
               variant: str | None = None) -> Any:
        """Send ``payload`` (JSON-encoded) or raw ``data``; returns the decoded JSON answer (or text)."""
        import orjson

        body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY) if data is None else data
        resp = self.invoke_raw(name, body, content_type, accept, variant)
        if resp.headers.get("content-type", "").startswith("application/json"):
            return resp.json()
        return resp.text

    # -- asynchronous invocations ----------------------------------------------------------------

    def invoke_async(self, name: str, payload: Any = None, *, data: bytes | str | None = None,
                     content_type: str = "application/json", accept: str = "application/json",
                     callback_url: str | None = None) -> AsyncInvocationView:
        """Queue a request (``payload`` JSON-encoded, or raw ``data``); returns at once with its id (status queued).

        ``callback_url``: POSTed a JSON document with the result (or the error) once answered.
        """
        import orjson

        body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY) if data is None else data
        body = body.encode() if isinstance(body, str) else body
        resp = self._api.http.post(f"/endpoints/{name}/async-invocations", content=body,
                                   params=drop_none(callback_url=callback_url),
                                   headers={"Content-Type": content_type, "Accept": accept})
        _raise_for(resp)
        return AsyncInvocationView.model_validate(resp.json())

    def async_result(self, name: str, invocation_id: str) -> AsyncInvocationView:
        """Status of a queued request; ``result`` holds the decoded answer once it succeeded (JSON up to 1 MB)."""
        return AsyncInvocationView.model_validate(
            self._api.json("GET", f"/endpoints/{name}/async-invocations/{invocation_id}"))

    def async_output(self, name: str, invocation_id: str) -> httpx.Response:
        """The answer body as the model gave it (any size or content type); Conflict until it succeeded."""
        resp = self._api.http.get(f"/endpoints/{name}/async-invocations/{invocation_id}/result")
        _raise_for(resp)
        return resp

    def wait_async(self, name: str, invocation_id: str, timeout: float = 300.0) -> AsyncInvocationView:
        """Poll until the request succeeded or failed (and its callback, if any, is settled or still retrying)."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            view = self.async_result(name, invocation_id)
            if view.status in ("succeeded", "failed"):
                return view
            if time.monotonic() > deadline:
                raise Timeout(f"Asynchronous invocation {invocation_id} of {name!r} is still {view.status} after "
                              f"{timeout:g} s.", {"endpoint": name, "id": invocation_id})
            time.sleep(delay)
            delay = min(1.0, delay * 1.5)


def _keep_warnings(first: EndpointView, last: EndpointView) -> EndpointView:
    warnings = list(dict.fromkeys([*first.warnings, *last.warnings]))
    return last.model_copy(update={"warnings": warnings})
