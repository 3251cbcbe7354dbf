"""Dashboard pages. Like API routes they only call services and render; each declares its action."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from slipway import __version__
from slipway.api.deps import permission, platform
from slipway.web.charts import bar_chart, line_chart

__all__ = ["NAV", "router", "mount_web", "render"]

HERE = Path(__file__).parent
# (label, href); features add their pages here.
NAV: list[tuple[str, str]] = [("Overview", "/"), ("Datasets", "/ui/datasets"), ("Jobs", "/ui/jobs"),
                              ("Tuning", "/ui/tuning"), ("Models", "/ui/models"), ("Endpoints", "/ui/endpoints")]
KEY_METRICS = ("validation:accuracy", "validation:roc_auc", "validation:rmse", "validation:r2", "train:accuracy",
               "train:rmse", "validation:silhouette", "train:silhouette")


def key_metric(metrics: dict[str, float]) -> tuple[str, float] | None:
    """The metric a list shows for a job or model: the first of KEY_METRICS it has."""
    for name in KEY_METRICS:
        if name in metrics:
            return name, metrics[name]
    return next(iter(metrics.items()), None)

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(line_chart=line_chart, bar_chart=bar_chart, version=__version__, nav=NAV,
                             key_metric=key_metric)


def _size(n: int | None) -> str:
    from slipway.cli.output import human_size

    return human_size(n)


templates.env.globals["size"] = _size
router = APIRouter(include_in_schema=False)


def render(request: Request, name: str, active: str, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"active": active, **ctx})


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(permission("system:GetStatus"))])
async def overview(request: Request) -> HTMLResponse:
    p = platform(request)
    counts = await run_in_threadpool(p.counts)
    return render(request, "overview.html", "Overview", counts=counts, info=p.describe(),
                  controllers=getattr(p, "controller_names", []))


@router.get("/ui/datasets", response_class=HTMLResponse, dependencies=[Depends(permission("datasets:List"))])
async def datasets(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).datasets.list, 1000, 0)
    return render(request, "datasets.html", "Datasets", page=page)


@router.get("/ui/datasets/{ref}", response_class=HTMLResponse,
            dependencies=[Depends(permission("datasets:Get", "dataset/{ref}"))])
async def dataset(request: Request, ref: str) -> HTMLResponse:
    svc = platform(request).datasets
    v = await run_in_threadpool(svc.get, ref)
    versions = (await run_in_threadpool(svc.list_versions, v.name, 1000, 0)).items
    classes = v.info.get("classes") or {}
    return render(request, "dataset.html", "Datasets", v=v, versions=versions, classes=dict(sorted(classes.items())))


@router.get("/ui/jobs", response_class=HTMLResponse, dependencies=[Depends(permission("jobs:List"))])
async def jobs(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).training.list, None, 200, 0)
    return render(request, "jobs.html", "Jobs", jobs=page.items)


@router.get("/ui/jobs/{name}", response_class=HTMLResponse, dependencies=[Depends(permission("jobs:Get", "job/{name}"))])
async def job(request: Request, name: str) -> HTMLResponse:
    svc = platform(request).training
    j = await run_in_threadpool(svc.get, name)
    m = await run_in_threadpool(svc.metrics, name)
    logs, _, _ = await run_in_threadpool(svc.read_logs, name, 0, 256 * 1024)
    # One chart per metric family (loss, accuracy, …), train and validation side by side.
    families: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for metric, points in sorted(m.series.items()):
        pts = [(float(p.step if p.step is not None else i + 1), p.value) for i, p in enumerate(points)]
        if len(pts) > 1:
            families.setdefault(metric.split(":")[-1], {})[metric] = pts
    return render(request, "job.html", "Jobs", j=j, charts=sorted(families.items()),
                  logs=logs.decode("utf-8", "replace")[-100_000:], done=j.done)


@router.get("/ui/jobs/{name}/logs", response_class=HTMLResponse,
            dependencies=[Depends(permission("jobs:Get", "job/{name}"))])
async def job_logs(request: Request, name: str) -> HTMLResponse:
    from html import escape

    logs, _, _ = await run_in_threadpool(platform(request).training.read_logs, name, 0, 256 * 1024)
    return HTMLResponse(escape(logs.decode("utf-8", "replace")[-100_000:]))


@router.get("/ui/tuning", response_class=HTMLResponse, dependencies=[Depends(permission("tuning:List"))])
async def tunings(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).tuning.list, None, 200, 0)
    return render(request, "tunings.html", "Tuning", items=page.items)


@router.get("/ui/tuning/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("tuning:Get", "tuning/{name}"))])
async def tuning(request: Request, name: str) -> HTMLResponse:
    t = await run_in_threadpool(platform(request).tuning.get, name)
    done = sorted((r.number, r.objective) for r in t.trials if r.objective is not None and r.status == "Completed")
    best, curve = None, []
    for number, value in done:
        best = value if best is None else (max(best, value) if t.maximize else min(best, value))
        curve.append((float(number), best))
    chart = {"trial": [(float(n), v) for n, v in done], "best so far": curve}
    return render(request, "tuning.html", "Tuning", t=t, chart=chart)


@router.get("/ui/models", response_class=HTMLResponse, dependencies=[Depends(permission("models:List"))])
async def models(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).registry.list, 200, 0)
    return render(request, "models.html", "Models", page=page)


@router.get("/ui/endpoints", response_class=HTMLResponse, dependencies=[Depends(permission("endpoints:List"))])
async def endpoints(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).endpoints.list, 200, 0)
    return render(request, "endpoints.html", "Endpoints", endpoints=page)


@router.get("/ui/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", "", next=_safe_next(next), error="")


@router.post("/ui/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the pasted key (or a sign-in link's, traded once for a session key) like any API call would, then
    keep it in an HttpOnly cookie."""
    from urllib.parse import parse_qs

    from slipway.errors import SlipwayError
    from slipway.services.context import DASHBOARD_COOKIE

    body = await request.body()
    form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")[:4096]).items()}
    key, target = form.get("key", "").strip(), _safe_next(form.get("next", "/"))
    p = platform(request)
    try:
        source = request.client.host if request.client else ""
        _, key = await run_in_threadpool(p.auth.dashboard_session, key, source)
    except SlipwayError as exc:
        resp = render(request, "login.html", "", next=target, error=exc.message)
        resp.status_code = exc.status_code
        return resp
    resp = RedirectResponse(target, status_code=303)
    resp.set_cookie(DASHBOARD_COOKIE, key, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", max_age=7 * 86400)
    return resp


@router.get("/ui/logout")
async def logout() -> Response:
    from slipway.services.context import DASHBOARD_COOKIE

    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(DASHBOARD_COOKIE)
    return resp


def _safe_next(target: str) -> str:
    """Only paths on this server (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def mount_web(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
