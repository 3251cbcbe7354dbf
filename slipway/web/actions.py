"""Dashboard actions (POST): the same services, permissions and audit trail as the API.

Each route declares ``form_guard`` (CSRF and origin, then the cookie is accepted) before the
``permission`` the matching API route declares, calls one service as the signed-in principal, and
answers 303 to the page it came from with a one-line notice. A refusal renders the API's message
(``slipway/api/errors.py`` turns errors on dashboard paths into pages).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import permission, platform, principal
from slipway.errors import InvalidArgument
from slipway.web.forms import form_guard, read_form, redirect_with

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def guarded(action: str, resource: str = "*") -> list[Any]:
    """The dependencies of a dashboard POST: the form guard, then the API's permission check."""
    return [Depends(form_guard(action, resource)), Depends(permission(action, resource))]


def _user(request: Request) -> str:
    return getattr(request.state, "user", "") or ""


def _field(form: dict[str, list[str]], name: str, default: str | None = None) -> str:
    values = form.get(name)
    value = values[0].strip() if values else ""
    if value:
        return value
    if default is not None:
        return default
    raise InvalidArgument(f"Field {name!r} is empty. Fill it in and submit the form again.", {"field": name})


def _number(name: str, text: str, kind: type[float] | type[int]) -> Any:
    try:
        return kind(text)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise InvalidArgument(f"Field {name!r} has value {text!r}. Expected {word}.",
                              {"field": name, "value": text}) from None


def variant(name: str, model: str, weight: str, replicas: str) -> Any:
    """One VariantSpec from form text, with the API's one-line message when a value is out of range."""
    from pydantic import ValidationError

    from slipway.schemas import VariantSpec

    w = _number("weight", weight.strip() or "1", float)
    n = _number("replicas", replicas.strip() or "1", int)
    try:
        return VariantSpec(name=name.strip() or "primary", model=model.strip(), weight=w, replicas=n)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "variant"
        raise InvalidArgument(f"Variant {name.strip() or 'primary'!r}: field {field!r} has value "
                              f"{err.get('input')!r}: {err.get('msg', 'invalid')}.", {"field": field}) from None


def variants_from_form(form: dict[str, list[str]]) -> list[Any]:
    """Rows of the update form (variant, model, weight, replicas); a row without a model is left out."""
    names, models, weights, replicas = (form.get(k, []) for k in ("variant", "model", "weight", "replicas"))

    def at(values: list[str], i: int) -> str:
        return values[i] if i < len(values) else ""

    out = [variant(at(names, i), m, at(weights, i), at(replicas, i)) for i, m in enumerate(models) if m.strip()]
    if not out:
        raise InvalidArgument("The update names no model. Give at least one variant a model (name:N or "
                              "name@alias).", {"field": "model"})
    return out


# -- models --------------------------------------------------------------------------------------------


@router.post("/ui/models/{name}/versions/{version}/approval", dependencies=guarded("models:Approve", "model/{name}"))
async def set_approval(request: Request, name: str, version: int) -> Response:
    form = await read_form(request)
    status = _field(form, "status")
    reason = _field(form, "reason", "")
    v = await run_in_threadpool(platform(request).registry.set_approval, f"{name}:{version}", status, reason,
                                _user(request))
    return redirect_with(f"/ui/models/{name}?version={version}", f"{v.ref} is now {v.approval}.")


@router.post("/ui/models/{name}/aliases", dependencies=guarded("models:SetAlias", "model/{name}"))
async def set_alias(request: Request, name: str) -> Response:
    form = await read_form(request)
    alias = _field(form, "alias")
    version = _number("version", _field(form, "version"), int)
    v = await run_in_threadpool(platform(request).registry.set_alias, name, alias, version, _user(request))
    return redirect_with(f"/ui/models/{name}?version={v.version}", f"@{alias} now points at {v.ref}.")


@router.post("/ui/models/{name}/aliases/{alias}/remove", dependencies=guarded("models:SetAlias", "model/{name}"))
async def remove_alias(request: Request, name: str, alias: str) -> Response:
    await run_in_threadpool(platform(request).registry.remove_alias, name, alias, _user(request))
    return redirect_with(f"/ui/models/{name}", f"Removed alias @{alias} of {name}.")


# -- endpoints -----------------------------------------------------------------------------------------


@router.post("/ui/endpoints", dependencies=guarded("endpoints:Create", "endpoint/{endpoint}"))
async def deploy(request: Request) -> Response:
    """Deploy a model version (or alias) to a new endpoint, from the model's page."""
    form = await read_form(request)
    name = _field(form, "endpoint")
    spec = variant("primary", _field(form, "model"), "1", _field(form, "replicas", "1"))
    e = await run_in_threadpool(platform(request).endpoints.create, name, [spec], _user(request))
    return redirect_with(f"/ui/endpoints/{e.name}", f"Deploying {spec.model} to endpoint {e.name} ({e.status}).")


@router.post("/ui/endpoints/{name}/update", dependencies=guarded("endpoints:Update", "endpoint/{name}"))
async def update(request: Request, name: str) -> Response:
    variants = variants_from_form(await read_form(request))
    e = await run_in_threadpool(platform(request).endpoints.update, name, variants, _user(request))
    shown = ", ".join(f"{v.name}={v.model}:{v.weight:g}" for v in variants)
    return redirect_with(f"/ui/endpoints/{name}", f"Updating {e.name} to {shown} ({e.status}).")


@router.post("/ui/endpoints/{name}/rollback", dependencies=guarded("endpoints:Rollback", "endpoint/{name}"))
async def rollback(request: Request, name: str) -> Response:
    e = await run_in_threadpool(platform(request).endpoints.rollback, name, _user(request))
    return redirect_with(f"/ui/endpoints/{name}", f"Rolling {e.name} back to its previous deployment ({e.status}).")


# -- jobs and tuning -----------------------------------------------------------------------------------


@router.post("/ui/jobs/{name}/stop", dependencies=guarded("jobs:Stop", "job/{name}"))
async def stop_job(request: Request, name: str) -> Response:
    j = await run_in_threadpool(platform(request).training.stop, name)
    return redirect_with(f"/ui/jobs/{name}", f"Stop requested for job {j.name} ({j.status}).")


@router.post("/ui/tuning/{name}/stop", dependencies=guarded("tuning:Stop", "tuning/{name}"))
async def stop_tuning(request: Request, name: str) -> Response:
    t = await run_in_threadpool(platform(request).tuning.stop, name)
    return redirect_with(f"/ui/tuning/{name}", f"Stop requested for tuning job {t.name} ({t.status}).")


# -- keys ----------------------------------------------------------------------------------------------


@router.post("/ui/keys", response_class=HTMLResponse, dependencies=guarded("keys:Create", "key/*"))
async def create_key(request: Request) -> HTMLResponse:
    """The new key is shown once, on this response only: it is never stored in a cookie or a redirect."""
    from slipway.web.pages import keys_page

    form = await read_form(request)
    caller = principal(request)
    user = _field(form, "user", caller.user)
    expires = _field(form, "expires", "") or None
    description = _field(form, "description", "")
    created = await run_in_threadpool(lambda: platform(request).auth.create_key(
        user, expires=expires, description=description, caller=caller))
    resp = await keys_page(request, created=created, status_code=201)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@router.post("/ui/keys/{key_id}/revoke", dependencies=guarded("keys:Delete", "key/{key_id}"))
async def revoke_key(request: Request, key_id: str) -> Response:
    k = await run_in_threadpool(platform(request).auth.revoke_key, key_id, principal(request))
    return redirect_with("/ui/keys", f"Key {k.prefix}… of {k.user} is {k.status}.")
