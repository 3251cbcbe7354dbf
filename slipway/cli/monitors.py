"""`slipway monitors …` (drift against a training baseline) and `slipway alarms …` (CloudWatch-style alarms)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, table
from slipway.cli.state import client

if TYPE_CHECKING:
    from slipway.schemas.monitors import AlarmView, MonitorRunView

app = typer.Typer(help="Drift monitors: captured inputs against a model version's training baseline.",
                  no_args_is_help=True)
alarms = typer.Typer(help="Alarms on metrics (endpoint latency, errors, drift) with webhook and rollback actions.",
                     no_args_is_help=True)


def _seconds(s: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


@app.command("create")
def create(ctx: typer.Context, name: str,
           endpoint: str = typer.Option(..., "--endpoint", help="The endpoint whose captured requests to check."),
           baseline: str = typer.Option(None, "--baseline", help="Model version with a baseline (default: the "
                                        "model the endpoint serves)."),
           every: str = typer.Option("5m", "--every", help="How often: 1m to 7d."),
           window: str = typer.Option("1h", "--window", help="Captured requests of this long back (1m to 30d)."),
           threshold: list[str] = typer.Option(None, "--threshold", help="[FEATURE:]STAT=VALUE, repeatable: psi "
                                               "(0.2), ks (0.3), js (0.1), chi2_p (0.01); FEATURE: for one feature "
                                               "(mean_radius:psi=0.1)."),
           output: Output = OutputOpt) -> None:
    """Create a drift monitor (refused when the model version has no baseline: make one with models baseline)."""
    m = client(ctx).monitors.create(name, endpoint, baseline, every, window, threshold or None)
    emit(m, output, lambda: console.print(
        f"monitor {m.name}: {m.endpoint} against {m.baseline} every {_seconds(m.every_seconds)} over "
        f"{_seconds(m.window_seconds)}; first run {m.next_run_at.isoformat(timespec='seconds')}", highlight=False))


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Monitors with their schedule and last run."""
    items = client(ctx).monitors.list()
    emit(items, output, lambda: table(None, ["name", "endpoint", "baseline", "every", "window", "last run"], [
        [m.name, m.endpoint, m.baseline, _seconds(m.every_seconds), _seconds(m.window_seconds),
         ago(m.last_run_at) if m.last_run_at else "-"] for m in items]))


def _render_run(r: MonitorRunView) -> None:
    console.print(f"run {r.started_at.isoformat(timespec='seconds')}  {r.status}  {r.message}", highlight=False)
    if r.features:
        def value(f: dict) -> str:  # type: ignore[type-arg]
            stat = f["threshold"]["statistic"]
            v = f["statistics"].get(stat)
            return "-" if v is None else f"{v:.4f}"

        def threshold(f: dict) -> str:  # type: ignore[type-arg]
            source = f["threshold"].get("source", "default")
            return f"{f['threshold']['value']:g}" + ("" if source == "default" else f" ({source})")

        def others(f: dict) -> str:  # type: ignore[type-arg]
            limits = f.get("thresholds") or {}
            return " ".join(f"{k}={v:.3g}" + (f" (threshold {limits[k]:g})" if k in limits else "")
                            for k, v in f["statistics"].items() if k != f["threshold"]["statistic"])

        table("per feature", ["feature", "type", "statistic", "value", "threshold", "verdict", "others"], [
            [f["name"], f["type"], f["threshold"]["statistic"], value(f), threshold(f),
             "DRIFT " + "+".join(f.get("drifted_by") or []) if f["drifted"] else "ok", others(f)]
            for f in r.features])
    if r.violations:
        table("data quality", ["feature", "check", "description"],
              [[v["feature_name"], v["constraint_check_type"], v["description"]] for v in r.violations])


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """The newest run per feature (statistic, value, threshold, verdict) and the run history."""
    m = client(ctx).monitors.get(name)

    def render() -> None:
        console.print(f"[bold]{m.name}[/bold]  {m.endpoint} against {m.baseline}  every "
                      f"{_seconds(m.every_seconds)}, window {_seconds(m.window_seconds)}  next run "
                      f"{m.next_run_at.isoformat(timespec='seconds')}", highlight=False)
        if m.thresholds:
            console.print("thresholds: " + ", ".join(f"{k}={v:g}" for k, v in m.thresholds.items()), highlight=False)
        if not m.runs:
            console.print("No runs yet.")
            return
        _render_run(m.runs[0])
        table("history", ["when", "status", "rows", "drifted"],
              [[r.started_at.isoformat(timespec="seconds"), r.status, r.rows, ", ".join(r.drifted_features) or "-"]
               for r in m.runs])

    emit(m, output, render)


@app.command("run")
def run(ctx: typer.Context, name: str, now: bool = typer.Option(True, "--now", help="Run now (the default)."),
        output: Output = OutputOpt) -> None:
    """Run a monitor now, besides its schedule."""
    r = client(ctx).monitors.run(name)
    emit(r, output, lambda: _render_run(r))


@app.command("delete")
def delete(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Delete a monitor and its run history."""
    m = client(ctx).monitors.delete(name)
    emit(m, output, lambda: console.print(f"deleted monitor {m.name}"))


def _rule(a: AlarmView) -> str:
    return (f"{a.statistic}({a.metric}) {'>' if a.comparison == 'above' else '<'} {a.threshold:g} for "
            f"{a.datapoints}of{a.evaluation_periods} x {_seconds(a.period_seconds)}")


@alarms.command("create")
def alarm_create(
    ctx: typer.Context, name: str,
    metric: str = typer.Option(..., "--metric", help="endpoint/NAME/p99_ms (requests, p50_ms, p95_ms, p99_ms, "
                               "mean_ms, max_ms, status_4xx, status_5xx, error_rate), monitor/NAME/drifted_features, "
                               "monitor/NAME/FEATURE/psi."),
    above: float = typer.Option(None, "--above", help="ALARM when the statistic is above this."),
    below: float = typer.Option(None, "--below", help="ALARM when the statistic is below this."),
    for_: str = typer.Option("1of1", "--for", help="M of N periods breaching, e.g. 3of5."),
    period: str = typer.Option("1m", "--period", help="10s, 30s or whole minutes up to 1d."),
    statistic: str = typer.Option("avg", "--statistic", help="avg, min, max, sum, count or pNN."),
    missing: str = typer.Option("missing", "--missing", help="missing, ignore, breaching or notBreaching."),
    action: list[str] = typer.Option(None, "--action", help="webhook=https://…, rollback; repeatable."),
    output: Output = OutputOpt,
) -> None:
    """Create an alarm (state OK, ALARM or INSUFFICIENT_DATA; actions run on a change of state)."""
    a = client(ctx).alarms.create(name, metric, above=above, below=below, for_=for_, period=period,
                                  statistic=statistic, missing=missing, actions=action or [])
    emit(a, output, lambda: console.print(f"alarm {a.name}: {_rule(a)}  {a.state}", highlight=False))


@alarms.command("list")
def alarm_list(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Alarms: state, since when, why."""
    items = client(ctx).alarms.list()
    emit(items, output, lambda: table(None, ["name", "state", "since", "rule", "reason"], [
        [a.name, a.state, ago(a.state_since), _rule(a), a.state_reason] for a in items]))


def _outcome(action: dict) -> str:  # type: ignore[type-arg]
    """ok | pending (a webhook the notifier has not delivered yet) | FAILED."""
    return "ok" if action.get("ok") else "pending" if action.get("status") == "pending" else "FAILED"


@alarms.command("show")
def alarm_show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """An alarm's state, reason, actions and the history of state changes (with each action's outcome)."""
    a = client(ctx).alarms.get(name)

    def render() -> None:
        color = {"OK": "green", "ALARM": "red"}.get(a.state, "yellow")
        console.print(f"[bold]{a.name}[/bold]  [{color}]{a.state}[/{color}] since "
                      f"{a.state_since.isoformat(timespec='seconds')}", highlight=False)
        console.print(f"rule: {_rule(a)}, missing data: {a.missing}", highlight=False)
        console.print(f"reason: {a.state_reason}", highlight=False)
        console.print("actions: " + (", ".join(f"{x['kind']}{'=' + x['target'] if x.get('target') else ''}"
                                                for x in a.actions) or "-"), highlight=False)
        if a.history:
            table("history", ["when", "from", "to", "reason", "actions"], [
                [h.at.isoformat(timespec="seconds"), h.from_state, h.to_state, h.reason,
                 "; ".join(f"{x['kind']}: {_outcome(x)} ({x['detail']})" for x in h.actions) or "-"]
                for h in a.history])

    emit(a, output, render)


@alarms.command("delete")
def alarm_delete(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Delete an alarm and its history."""
    a = client(ctx).alarms.delete(name)
    emit(a, output, lambda: console.print(f"deleted alarm {a.name}"))
