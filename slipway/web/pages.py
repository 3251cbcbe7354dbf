"""Dashboard pages (GET). Like API routes they only call services and render; each declares its action.

The changes a page offers are posted to the routes in ``slipway/web/actions.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from slipway import __version__
from slipway.api.deps import permission, platform, principal
from slipway.web.charts import bar_chart, chart_spec, line_chart, lineage_graph, live_chart, sail_logo, spec_chart
from slipway.web.forms import FLASH_COOKIE, csrf_for, flashed

__all__ = ["NAV", "router", "mount_web", "render", "error_page"]

HERE = Path(__file__).parent
# (label, href); features add their pages here.
NAV: list[tuple[str, str]] = [("Overview", "/"), ("Datasets", "/ui/datasets"), ("Jobs", "/ui/jobs"),
                              ("Tuning", "/ui/tuning"), ("Models", "/ui/models"), ("Endpoints", "/ui/endpoints"),
                              ("Monitors", "/ui/monitors"), ("Alarms", "/ui/alarms"), ("Pipelines", "/ui/pipelines"),
                              ("Transforms", "/ui/transforms"), ("Keys", "/ui/keys")]
KEY_METRICS = ("validation:accuracy", "validation:roc_auc", "validation:rmse", "validation:r2", "train:accuracy",
               "train:rmse", "validation:silhouette", "train:silhouette")


def key_metric(metrics: dict[str, float]) -> tuple[str, float] | None:
    """The metric a list shows for a job or model: the first of KEY_METRICS it has."""
    for name in KEY_METRICS:
        if name in metrics:
            return name, metrics[name]
    return next(iter(metrics.items()), None)

templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals.update(line_chart=line_chart, live_chart=live_chart, spec_chart=spec_chart, bar_chart=bar_chart,
                             lineage_graph=lineage_graph,
                             logo=sail_logo, version=__version__, nav=NAV, key_metric=key_metric)


def _size(n: int | None) -> str:
    from slipway.cli.output import human_size

    return human_size(n)


templates.env.globals["size"] = _size


def _seconds(start: Any, end: Any) -> str:
    """The time between two datetimes (``-`` while one is missing)."""
    return f"{(end - start).total_seconds():.2f} s" if start and end else "-"


templates.env.globals["seconds"] = _seconds
router = APIRouter(include_in_schema=False)


def render(request: Request, template: str, active: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    """A page, with the CSRF token its forms carry and the notice left by the last action (shown once)."""
    who = principal(request)
    notice = flashed(request)
    resp = templates.TemplateResponse(request, template, {
        "active": active, "csrf": csrf_for(request), "notice": notice, "who": who.user if who else "", **ctx,
    }, status_code=status_code)
    if notice:
        resp.delete_cookie(FLASH_COOKIE, path="/")
    return resp


def error_page(request: Request, status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> HTMLResponse:
    """What a browser shows for an error: the message the API gives for the same call."""
    resp = render(request, "error.html", "", status_code=status, status=status, code=code, message=message,
                  back=_safe_next(_referer_path(request)))
    if headers:
        resp.headers.update(headers)
    return resp


def _referer_path(request: Request) -> str:
    from urllib.parse import urlsplit

    ref = urlsplit(request.headers.get("referer", ""))
    same = ref.netloc == request.headers.get("host", "")
    return (ref.path + (f"?{ref.query}" if ref.query else "")) if same and ref.path else "/"


@router.get("/", response_class=HTMLResponse, dependencies=[Depends(permission("system:GetStatus"))])
async def overview(request: Request) -> HTMLResponse:
    from slipway.web.activity import recent_activity

    p = platform(request)
    counts = await run_in_threadpool(p.counts)
    activity, hidden = await run_in_threadpool(recent_activity, p, principal(request))
    return render(request, "overview.html", "Overview", counts=counts, info=p.describe(),
                  controllers=getattr(p, "controller_names", []), activity=activity, hidden=hidden)


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
    return render(request, "job.html", "Jobs", j=j, charts=metric_charts(m.series),
                  final=final_scores(j.final_metrics), logs=logs.decode("utf-8", "replace")[-100_000:], done=j.done)


def metric_charts(series: dict[str, list[Any]]) -> list[tuple[str, dict[str, list[tuple[float, float]]]]]:
    """One chart per metric family (loss, accuracy, …), train and validation side by side.

    A series with steps (per epoch or per stage) drops its unstepped points: those are the final
    evaluation, already the last step's value, and would draw a false extra step.
    """
    families: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for metric, points in sorted(series.items()):
        stepped = [p for p in points if p.step is not None]
        pts = ([(float(p.step), p.value) for p in stepped] if stepped
               else [(float(i + 1), p.value) for i, p in enumerate(points)])
        if len(pts) > 1:
            families.setdefault(metric.split(":")[-1], {})[metric] = pts
    return sorted(families.items())


def final_scores(final: dict[str, float]) -> dict[str, float]:
    """The final metrics a bar chart can show (top-level scores, not per-class ones)."""
    return {k: v for k, v in final.items() if k.count(":") == 1 and isinstance(v, (int, float))}


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


@router.get("/ui/pipelines", response_class=HTMLResponse, dependencies=[Depends(permission("pipelines:List"))])
async def pipelines(request: Request) -> HTMLResponse:
    items = await run_in_threadpool(platform(request).pipelines.list)
    return render(request, "pipelines.html", "Pipelines", items=items)


def graph_layout(graph: dict[str, list[str]]) -> dict[str, tuple[int, int]]:
    """Step -> (column, row): a step's column is one past its deepest dependency's."""
    depth: dict[str, int] = {}

    def d(n: str) -> int:
        if n not in depth:
            depth[n] = 1 + max((d(x) for x in graph[n]), default=-1)
        return depth[n]

    rows: dict[int, int] = {}
    out = {}
    for n in graph:
        col = d(n)
        out[n] = (col, rows.get(col, 0))
        rows[col] = rows.get(col, 0) + 1
    return out


@router.get("/ui/pipelines/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("pipelines:Get", "pipeline/{name}"))])
async def pipeline(request: Request, name: str, run: int | None = None) -> HTMLResponse:
    p = platform(request).pipelines
    view = await run_in_threadpool(p.get, name)
    runs = await run_in_threadpool(p.list_runs, name)
    shown = next((r for r in runs if r.number == run), None) if run is not None else (runs[0] if runs else None)
    states = {s.name: s for s in shown.steps} if shown else {}
    return render(request, "pipeline.html", "Pipelines", p=view, runs=runs, shown=shown, states=states,
                  layout=graph_layout(view.graph))


@router.get("/ui/models", response_class=HTMLResponse, dependencies=[Depends(permission("models:List"))])
async def models(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).registry.list, 200, 0)
    return render(request, "models.html", "Models", page=page)


@router.get("/ui/endpoints", response_class=HTMLResponse, dependencies=[Depends(permission("endpoints:List"))])
async def endpoints(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).endpoints.list, 200, 0)
    return render(request, "endpoints.html", "Endpoints", endpoints=page)


@router.get("/ui/models/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("models:Get", "model/{name}"))])
async def model(request: Request, name: str, version: int | None = None) -> HTMLResponse:
    """Versions, the chosen version's signature, metrics and lineage, and the approval and alias history."""
    svc = platform(request).registry
    versions = (await run_in_threadpool(svc.list_versions, name, 1000, 0)).items
    history = await run_in_threadpool(svc.history, name)
    if not versions:
        return render(request, "model.html", "Models", name=name, versions=[], v=None, history=history,
                      trend={}, lineage=None, aliases={})
    v = next((x for x in versions if x.version == version), versions[0])
    # How the key metrics moved from version to version.
    trend: dict[str, list[tuple[float, float]]] = {}
    for metric in KEY_METRICS:
        pts = [(float(x.version), float(x.metrics[metric])) for x in reversed(versions)
               if isinstance(x.metrics.get(metric), (int, float))]
        if len(pts) > 1:
            trend[metric] = pts
    aliases = {a: x.version for x in versions for a in x.aliases}
    return render(request, "model.html", "Models", name=name, versions=versions, v=v, history=history,
                  trend=trend, lineage=lineage_graph(lineage_columns(v)), aliases=dict(sorted(aliases.items())))


def lineage_columns(v: Any) -> list[list[tuple[str, str, str]]]:
    """Dataset versions -> (tuning job ->) training job -> this model version -> endpoints serving it."""
    lineage, source = v.lineage or {}, v.source or {}
    datasets = [(ref, f"dataset · {channel}", f"/ui/datasets/{ref}")
                for channel, ref in sorted((lineage.get("datasets") or {}).items())]
    columns: list[list[tuple[str, str, str]]] = [datasets] if datasets else []
    tuning = lineage.get("tuning_job")
    if tuning:  # the model came from the best trial of a tuning job
        columns.append([(str(tuning), "tuning job", f"/ui/tuning/{tuning}")])
    job_name = lineage.get("job") or source.get("job")
    if job_name:
        what = lineage.get("algorithm") or "script"
        columns.append([(str(job_name), f"training job · {what}", f"/ui/jobs/{job_name}")])
    columns.append([(v.ref, f"model version · {v.approval}", f"/ui/models/{v.name}?version={v.version}")])
    if v.used_by:
        columns.append([(ep, "endpoint", f"/ui/endpoints/{ep}") for ep in v.used_by])
    return columns


CHART_WINDOW = "1h"  # what an endpoint page's charts show
CHART_EVERY_S = 10  # how often the browser reloads them
ASYNC_SHOWN = 20  # an endpoint page lists its newest asynchronous requests, this many


def endpoint_charts(m: Any) -> list[dict[str, Any]]:
    """Throughput, latency percentiles and errors per minute over the window, per variant (``chart_spec`` each).

    Minutes without requests count 0 requests and 0 errors; their latency is a gap, not a zero.
    """
    import datetime as dt

    start = int(dt.datetime.fromisoformat(m.since).timestamp()) // 60
    end = int(dt.datetime.fromisoformat(m.until).timestamp()) // 60
    minutes = [float(t * 60) for t in range(start, end + 1)]
    by: dict[str, dict[float, Any]] = {}
    for p in m.points:
        by.setdefault(p.variant or "(none)", {})[float(dt.datetime.fromisoformat(p.minute).timestamp())] = p
    variants = sorted(by) or ["(none)"]
    one = len(variants) == 1

    def label(what: str, v: str) -> str:
        return what if one else f"{what} · {v}"

    rps = {v if not one else "requests/s": [(t, by.get(v, {})[t].requests_per_second if t in by.get(v, {}) else 0.0)
                                           for t in minutes] for v in variants}
    latency: dict[str, list[tuple[float, float | None]]] = {}
    for v in variants:
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            latency[label(q[:3], v)] = [(t, getattr(by[v][t], q) if t in by.get(v, {}) else None) for t in minutes]
    errors = {k: [(t, float(sum(getattr(pts[t], f"status_{k}") for pts in by.values() if t in pts))) for t in minutes]
              for k in ("4xx", "5xx")}
    return [chart_spec(rps, "requests per second", "time"),
            chart_spec(latency, "latency (ms)", "time", " ms"),
            chart_spec(errors, "errors per minute", "time")]


@router.get("/ui/endpoints/{name}/charts", response_class=JSONResponse,
            dependencies=[Depends(permission("endpoints:Get", "endpoint/{name}"))])
async def endpoint_chart_data(request: Request, name: str) -> JSONResponse:
    """The endpoint page's chart data, which the page reloads every few seconds."""
    m = await run_in_threadpool(platform(request).metrics.query, name, CHART_WINDOW)
    return JSONResponse(endpoint_charts(m), headers={"Cache-Control": "no-store"})


@router.get("/ui/endpoints/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("endpoints:Get", "endpoint/{name}"))])
async def endpoint(request: Request, name: str) -> HTMLResponse:
    """Variants with their share of traffic, live charts, replicas, and every deployment (update, rollback) so far."""
    p = platform(request)
    e = await run_in_threadpool(p.endpoints.get, name)
    charts = endpoint_charts(await run_in_threadpool(p.metrics.query, name, CHART_WINDOW))
    variants = list((e.live or e.desired).get("variants", []))
    total = sum(float(x.get("weight", 0) or 0) for x in variants) or 1.0
    shares = {str(x.get("name")): float(x.get("weight", 0) or 0) / total for x in variants}
    invocations = (await run_in_threadpool(p.async_invocations.recent, name, ASYNC_SHOWN)
                   if _may(request, "endpoints:GetAsyncResult", f"endpoint/{name}") else None)
    return render(request, "endpoint.html", "Endpoints", e=e, variants=variants, shares=shares, charts=charts,
                  chart_src=f"/ui/endpoints/{name}/charts", chart_every=CHART_EVERY_S,
                  desired=list(e.desired.get("variants", [])), invocations=invocations,
                  deployments=sorted(e.deployments, key=lambda d: d.number, reverse=True))


def _may(request: Request, action: str, resource: str) -> bool:
    """Whether the signed-in key may ``action`` on ``resource`` (a page leaves out what it may not read)."""
    from slipway.errors import Forbidden

    who = principal(request)
    if who is None:
        return False
    try:
        platform(request).auth.authorize(who, action, resource)
    except Forbidden:
        return False
    return True


@router.get("/ui/transforms", response_class=HTMLResponse, dependencies=[Depends(permission("transforms:List"))])
async def transforms(request: Request) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).transforms.list, 200, 0)
    return render(request, "transforms.html", "Transforms", items=page.items)


@router.get("/ui/transforms/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("transforms:Get", "transform/{name}"))])
async def transform(request: Request, name: str) -> HTMLResponse:
    """Status and progress (refreshed while it runs), input and output dataset versions, the failure and its rows."""
    t = await run_in_threadpool(platform(request).transforms.get, name)
    return render(request, "transform.html", "Transforms", t=t, done=t.status in TRANSFORM_DONE,
                  rows_shown=FAILED_ROWS_SHOWN)


TRANSFORM_DONE = ("Completed", "Failed", "Stopped")
FAILED_ROWS_SHOWN = 50  # a failed transform's page lists this many of the failing rows


@router.get("/ui/keys", response_class=HTMLResponse, dependencies=[Depends(permission("keys:List", "key/*"))])
async def keys(request: Request) -> HTMLResponse:
    return await keys_page(request)


async def keys_page(request: Request, created: Any = None, status_code: int = 200) -> HTMLResponse:
    page = await run_in_threadpool(platform(request).auth.list_keys, None, 1000, 0)
    items = sorted(page.items, key=lambda k: k.created_at, reverse=True)
    return render(request, "keys.html", "Keys", status_code=status_code, keys=items, created=created)


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
    from slipway.web.actions import router as actions
    from slipway.web.monitor_pages import router as monitor_pages

    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
    app.include_router(actions)
    app.include_router(monitor_pages)
