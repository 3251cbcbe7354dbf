"""Dashboard pages of drift monitors (per-feature drift now and over time, live vs baseline distributions) and
alarms (state, rule, history of state changes with each action's outcome)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from slipway.api.deps import permission, platform
from slipway.web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/ui/monitors", response_class=HTMLResponse, dependencies=[Depends(permission("monitors:List"))])
async def monitors(request: Request) -> HTMLResponse:
    p = platform(request)
    items = await run_in_threadpool(p.monitors.list)
    alarms = await run_in_threadpool(p.alarms.list)
    return render(request, "monitors.html", "Monitors", monitors=items, alarms=alarms)


@router.get("/ui/monitors/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("monitors:Get", "monitor/{name}"))])
async def monitor(request: Request, name: str) -> HTMLResponse:
    """The newest run per feature, each feature's drift statistic over the runs, and the most drifted
    features' live distribution against the baseline's."""
    p = platform(request)
    m = await run_in_threadpool(p.monitors.get, name, 100)
    done = [r for r in reversed(m.runs) if r.status == "Completed"]  # oldest first
    series: dict[str, list[tuple[float, float]]] = {}
    for r in done:
        for f in r.features:
            stat = f["threshold"]["statistic"]
            if stat in f["statistics"]:
                series.setdefault(f"{f['name']} ({stat})", []).append((r.started_at.timestamp(),
                                                                       float(f["statistics"][stat])))
    latest = done[-1] if done else None
    top: list[str] = []
    distributions: list[tuple[str, dict[str, float], dict[str, float]]] = []
    if latest is not None:
        ranked = sorted(latest.features, key=lambda f: -float(next(iter(f["statistics"].values()), 0.0)
                                                             if f["statistics"] else 0.0))
        top = [f"{f['name']} ({f['threshold']['statistic']})" for f in ranked[:6]]
        try:
            _, stats, _ = await run_in_threadpool(p.baselines.documents, m.baseline)
        except Exception:  # the baseline is gone: the page still shows the runs
            stats = {"features": []}
        base = {f["name"]: f for f in stats.get("features", [])}
        for f in ranked[:3]:
            b = base.get(f["name"], {})
            if "live_buckets" in f and "numerical_statistics" in b:
                buckets = b["numerical_statistics"]["distribution"]["kll"]["buckets"]
                total_b = sum(x["count"] for x in buckets) or 1.0
                total_l = sum(f["live_buckets"]) or 1.0
                labels = [f"{x['lower_bound']:.3g}–{x['upper_bound']:.3g}" for x in buckets]
                distributions.append((f["name"], {k: x["count"] / total_b for k, x in zip(labels, buckets, strict=True)},
                                      {k: v / total_l for k, v in zip(labels, f["live_buckets"], strict=True)}))
            elif "live_categories" in f and "string_statistics" in b:
                cats = b["string_statistics"]["distribution"]["categorical"]["buckets"]
                total_b = sum(x["count"] for x in cats) or 1.0
                total_l = sum(f["live_categories"].values()) or 1.0
                distributions.append((f["name"], {x["value"]: x["count"] / total_b for x in cats[:12]},
                                      {k: v / total_l for k, v in list(f["live_categories"].items())[:12]}))
    return render(request, "monitor.html", "Monitors", m=m, latest=latest,
                  series={k: v for k, v in series.items() if k in top}, distributions=distributions)


@router.get("/ui/alarms", response_class=HTMLResponse, dependencies=[Depends(permission("alarms:List"))])
async def alarms(request: Request) -> HTMLResponse:
    items = await run_in_threadpool(platform(request).alarms.list)
    return render(request, "alarms.html", "Alarms", alarms=items)


@router.get("/ui/alarms/{name}", response_class=HTMLResponse,
            dependencies=[Depends(permission("alarms:Get", "alarm/{name}"))])
async def alarm(request: Request, name: str) -> HTMLResponse:
    """State, rule and the history of state changes (with what each action did), and the state over time."""
    a = await run_in_threadpool(platform(request).alarms.get, name, 200)
    level = {"OK": 0.0, "INSUFFICIENT_DATA": 0.5, "ALARM": 1.0}
    steps = [(h.at.timestamp(), level.get(h.to_state, 0.5)) for h in reversed(a.history)]
    return render(request, "alarm.html", "Alarms", a=a, states={"state (0 OK, 0.5 no data, 1 ALARM)": steps})
