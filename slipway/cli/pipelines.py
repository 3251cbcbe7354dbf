"""`slipway pipelines create|list|show|delete|run|runs|schedule|trigger`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, console, emit, keeps_running, table
from slipway.cli.state import client
from slipway.errors import InvalidArgument

if TYPE_CHECKING:
    from slipway.schemas.pipelines import PipelineRunView, PipelineView

app = typer.Typer(help="Pipelines: process, train, evaluate, condition, register, deploy — run as one graph.",
                  no_args_is_help=True)


def _duration(seconds: float | None) -> str:
    return f"{seconds:.1f}s" if seconds is not None else ""


def render_run(run: PipelineRunView) -> None:
    console.print(f"[bold]{run.pipeline}[/bold] run {run.number}  {run.status}  (version {run.pipeline_version}, "
                  f"started by {run.started_by}, {_duration(run.duration_s)}, {run.cache_hits} cache hit(s))")
    if run.parameters:
        console.print("parameters: " + ", ".join(f"{k}={v}" for k, v in run.parameters.items()))
    if run.failure_reason:
        console.print("[red]reason:[/red] ", end="")
        console.print(run.failure_reason, markup=False, highlight=False)
    table(None, ["step", "type", "status", "job", "cache", "time", "outputs / why"],
          [[s.name, s.type, s.status, (s.job or "") + (f" (attempt {s.attempt + 1})" if s.attempt else ""), f"hit: {s.cached_from}" if s.cached_from else "",
            _duration(s.duration_s),
            s.message or ", ".join(f"{k}={v}" for k, v in s.outputs.items() if k != "metrics")]
           for s in run.steps])


def render_pipeline(p: PipelineView) -> None:
    console.print(f"[bold]{p.name}[/bold]  version {p.version}  ({len(p.definition.steps)} steps)"
                  + (f"  {p.description}" if p.description else ""))
    if p.definition.parameters:
        console.print("parameters: " + ", ".join(
            f"{k} ({v.type}{', default ' + str(v.default) if v.default is not None else ''})"
            for k, v in p.definition.parameters.items()))
    table(None, ["step", "type", "after"], [[s.name, s.type, ", ".join(p.graph[s.name])] for s in p.definition.steps])
    if p.schedule is not None:
        console.print(f"schedule: '{p.schedule.cron}' ({p.schedule.timezone}), next run "
                      f"{p.schedule.next_run_at:%Y-%m-%d %H:%M} UTC")
    if p.triggers:
        console.print("triggers: " + ", ".join(t.on for t in p.triggers))
    if p.last_run is not None:
        render_run(p.last_run)


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name."),
    file: Path = typer.Option(..., "--file", "-f", help="The pipeline's YAML file."),
    output: Output = OutputOpt,
) -> None:
    """Create a pipeline from a YAML file, or update it (a new version; step caches are kept)."""
    view = client(ctx).pipelines.create(name, file)
    emit(view, output, lambda: (console.print(f"pipeline {view.name} version {view.version}"),
                                render_pipeline(view)))


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Every pipeline with its last run."""
    items = client(ctx).pipelines.list()
    emit(items, output, lambda: table(None, ["pipeline", "version", "steps", "last run", "status"], [
        [p.name, p.version, len(p.definition.steps), p.last_run.number if p.last_run else "",
         p.last_run.status if p.last_run else ""] for p in items]))


@app.command("show")
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name."),
    run: int = typer.Option(None, "--run", help="Show this run: per step its inputs, outputs, job, why skipped or "
                                                 "failed."),
    output: Output = OutputOpt,
) -> None:
    """A pipeline's steps and graph, and its last run (or --run N)."""
    c = client(ctx)
    if run is not None:
        r = c.pipelines.get_run(name, run)
        emit(r, output, lambda: render_run(r))
        return
    view = c.pipelines.get(name)
    emit(view, output, lambda: render_pipeline(view))


@app.command("stop")
def stop(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name."),
    run: int = typer.Option(..., "--run", help="The run to stop (see `slipway pipelines runs NAME`)."),
    output: Output = OutputOpt,
) -> None:
    """Stop a run: its running jobs are stopped, the steps not yet run skipped; the run ends Stopped."""
    r = client(ctx).pipelines.stop_run(name, run)
    emit(r, output, lambda: render_run(r))


@app.command("delete")
def delete(ctx: typer.Context, name: str = typer.Argument(...), output: Output = OutputOpt) -> None:
    """Delete a pipeline and its run history (not the jobs, datasets or models its runs made)."""
    view = client(ctx).pipelines.delete(name)
    emit(view, output, lambda: console.print(f"deleted pipeline {view.name}"))


def _params(param: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidArgument(f"--param {item!r} is not valid. Expected NAME=VALUE, e.g. --param "
                                  "min_accuracy=0.9.", {"field": "parameters", "value": item})
        params[key.strip()] = value
    return params


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name."),
    cron: str = typer.Option(None, "--cron", help="Five-field cron expression, e.g. '0 3 * * *'."),
    timezone: str = typer.Option(None, "--timezone", help="IANA time zone the cron reads in, e.g. Europe/Paris."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE for the scheduled runs (repeatable)."),
    off: bool = typer.Option(False, "--off", help="Remove the schedule."),
    output: Output = OutputOpt,
) -> None:
    """Run a pipeline on a cron schedule (after downtime, one run rather than one per missed time)."""
    c = client(ctx)
    if off:
        view = c.pipelines.unschedule(name)
    else:
        if not cron or not timezone:
            raise InvalidArgument("Give --cron and --timezone (e.g. --cron '0 3 * * *' --timezone Europe/Paris), "
                                  "or --off.", {"field": "cron" if not cron else "timezone"})
        view = c.pipelines.schedule(name, cron, timezone, _params(param))

    def _show() -> None:
        sc = view.schedule
        console.print(f"{view.name}: " + (f"'{sc.cron}' ({sc.timezone}), next run {sc.next_run_at:%Y-%m-%d %H:%M} UTC"
                                          if sc else "no schedule"))

    emit(view, output, _show)


@app.command("trigger")
def trigger(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name."),
    on: str = typer.Option(..., "--on", help="KIND:SUBJECT: dataset:NAME (a new version), alarm:NAME (enters "
                                             "ALARM), model:NAME (registered), model-approved:NAME, job:NAME."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE; '{{ event.ref }}' is the new version "
                                                              "(repeatable)."),
    off: bool = typer.Option(False, "--off", help="Remove this trigger."),
    output: Output = OutputOpt,
) -> None:
    """Start a run on each new platform event (each event starts at most one run)."""
    c = client(ctx)
    view = c.pipelines.remove_trigger(name, on) if off else c.pipelines.trigger(name, on, _params(param))
    emit(view, output, lambda: console.print(f"{view.name} triggers: " + (", ".join(
        t.on for t in view.triggers) or "none")))


@app.command("run")
def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Pipeline name."),
    param: list[str] = typer.Option([], "--param", "-p", help="NAME=VALUE (repeatable)."),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the run until it ends."),
    output: Output = OutputOpt,
) -> None:
    """Start a run (it waits while another run of the pipeline is in progress)."""
    c = client(ctx)
    r = c.pipelines.run(name, _params(param))
    if wait:
        with keeps_running(f"run {r.number} of {name} goes on on the server; see it with: slipway pipelines show "
                           f"{name} --run {r.number}"):
            if output == Output.table:
                import time

                with console.status(f"{name} run {r.number}: {r.status}") as spinner:
                    while not r.done:
                        time.sleep(0.5)
                        r = c.pipelines.get_run(name, r.number)
                        running = ", ".join(s.name for s in r.steps if s.status == "Running")
                        spinner.update(f"{name} run {r.number}: {r.status} {running}")
            else:
                r = c.pipelines.wait(name, r.number)
    emit(r, output, lambda: render_run(r))
    if wait and r.status != "Succeeded":
        raise typer.Exit(1)


@app.command("runs")
def runs(ctx: typer.Context, name: str = typer.Argument(...), output: Output = OutputOpt) -> None:
    """Every run: status, steps, cache hits, durations."""
    items = client(ctx).pipelines.runs(name)
    emit(items, output, lambda: table(None, ["run", "status", "version", "steps", "cache hits", "time", "started by"], [
        [r.number, r.status, r.pipeline_version,
         ", ".join(f"{s.name}:{s.status}" for s in r.steps), r.cache_hits, _duration(r.duration_s), r.started_by]
        for r in items]))
