"""`slipway jobs …`: list, show, logs (--follow), metrics, stop, download."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, keeps_running, table
from slipway.cli.state import client

if TYPE_CHECKING:
    from slipway.schemas import JobMetrics, JobView
    from slipway.sdk.plain import Record

app = typer.Typer(help="Training jobs: status, logs, metrics, stop, model download.", no_args_is_help=True)

STATUS_STYLE = {"Completed": "green", "Failed": "red", "Stopped": "yellow", "Stopping": "yellow",
                "InProgress": "cyan", "Pending": "dim"}


def status_text(v: JobView | Record) -> str:
    style = STATUS_STYLE.get(v.status, "")
    return f"[{style}]{v.status}[/{style}]" if style else v.status


def duration(v: JobView | Record) -> str:
    return "" if v.duration_s is None else f"{v.duration_s:.1f}s"


def what(v: JobView | Record) -> str:
    return v.algorithm or f"script {v.entry_point}"


def headline_metric(v: JobView | Record) -> str:
    for key in ("validation:accuracy", "validation:rmse", "validation:silhouette", "train:accuracy", "train:rmse"):
        if key in v.final_metrics:
            return f"{key}={v.final_metrics[key]:.4g}"
    if v.final_metrics:
        k = sorted(v.final_metrics)[0]
        return f"{k}={v.final_metrics[k]:.4g}"
    return ""


def render_metrics(final: dict[str, float], title: str = "metrics") -> None:
    if final:
        table(title, ["metric", "value"], [[k, f"{final[k]:.6g}"] for k in sorted(final)])


def render_job(v: JobView) -> None:
    console.print(f"[bold]{v.name}[/bold]  {status_text(v)} ({v.secondary_status})  {what(v)}")
    console.print(f"created: {v.created_at.isoformat(timespec='seconds')} by {v.created_by or '-'}"
                  f"   duration: {duration(v) or '-'}   max runtime: {v.max_runtime}s"
                  f"   memory limit: {str(v.memory_limit_mb) + ' MB' if v.memory_limit_mb else 'none'}"
                  + (f"   asks: {v.cpus or 1:g} CPU, {v.gpus or 0:g} GPU" if v.cpus or v.gpus else ""))
    if v.problem_type:
        console.print(f"problem type: {v.problem_type}   label: {v.label or '-'}"
                      + (f"   validation split: {v.validation_split}" if v.validation_split else ""))
    if v.failure_reason:
        console.print("[red]failure reason:[/red]", end=" ")
        console.print(v.failure_reason, highlight=False, markup=False)
    table("inputs", ["channel", "dataset version"], sorted(v.inputs.items()))
    if v.hyperparameters:
        table("hyperparameters", ["name", "value"], [[k, v.hyperparameters[k]] for k in sorted(v.hyperparameters)])
    table("status history", ["status", "start", "end", "message"], [
        [t.status, t.start_time.isoformat(timespec="milliseconds"),
         t.end_time.isoformat(timespec="milliseconds") if t.end_time else "", t.message] for t in v.transitions])
    render_metrics(v.final_metrics, "final metrics")
    if v.model_available:
        console.print(f"model: slipway jobs download {v.name}")


@app.command("list")
def list_(ctx: typer.Context, status: str = typer.Option(None, "--status", help="Pending, InProgress, Completed, "
                                                          "Failed, Stopping or Stopped."),
          output: Output = OutputOpt) -> None:
    """List jobs, newest first."""
    items = list(client(ctx).plain.jobs(status=status))  # the server's JSON as it is: no pydantic to import

    def render() -> None:
        table(None, ["name", "status", "secondary", "runs", "inputs", "duration", "metric", "created"],
              [[v.name, status_text(v), v.secondary_status, what(v), ", ".join(v.inputs.values()), duration(v),
                headline_metric(v), ago(v.created_at)] for v in items])

    emit(items, output, render)


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Status and its history with times, hyperparameters, inputs, final metrics, failure reason."""
    v = client(ctx).jobs.get(name).view
    emit(v, output, lambda: render_job(v))


@app.command("logs")
def logs(ctx: typer.Context, name: str, follow: bool = typer.Option(False, "--follow", "-f",
                                                                     help="Keep printing until the job ends."),
         output: Output = OutputOpt) -> None:
    """Print the job's stdout and stderr (live with --follow); --output json gives one object at the end."""
    c = client(ctx)
    if output == Output.json:
        text = "".join(c.jobs.logs(name, follow=follow))
        emit({"name": name, "status": c.jobs.get(name).view.status, "logs": text}, output, lambda: None)
        return
    with keeps_running(f"job {name} keeps running on the server; stop it: slipway jobs stop {name}."):
        for chunk in c.jobs.logs(name, follow=follow):
            sys.stdout.write(chunk)
            sys.stdout.flush()


def _series_rows(m: JobMetrics) -> list[list[object]]:
    rows: list[list[object]] = []
    for metric in sorted(m.series):
        points = m.series[metric]
        values = [p.value for p in points]
        rows.append([metric, len(points), f"{values[-1]:.6g}", f"{min(values):.6g}", f"{max(values):.6g}"])
    return rows


@app.command("metrics")
def metrics(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Final metric values and each metric's time series."""
    m = client(ctx).jobs.metrics(name)

    def render() -> None:
        from slipway.schemas import JobMetrics

        render_metrics(m.final, f"{name}: final metrics")
        series = {k: v for k, v in m.series.items() if len(v) > 1}
        if series:
            table("time series", ["metric", "points", "last", "min", "max"],
                  _series_rows(JobMetrics(name=m.name, status=m.status, final=m.final, series=series)))
            for metric in sorted(series):
                console.print(f"[bold]{metric}[/bold]: " + " ".join(
                    f"{p.step if p.step is not None else i}:{p.value:.4g}" for i, p in enumerate(series[metric])))

    emit(m, output, render)


@app.command("stop")
def stop(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Stop a job: SIGTERM, then SIGKILL after the grace period. A Pending job never starts."""
    v = client(ctx).jobs.stop(name).view
    emit(v, output, lambda: console.print(f"{v.name}: {status_text(v)} ({v.secondary_status})"))


@app.command("download")
def download(ctx: typer.Context, name: str, dest: Path = typer.Argument(Path("."), help="Folder to write into."),
             output_data: bool = typer.Option(False, "--output-data", help="The job's SM_OUTPUT_DATA_DIR instead."),
             output: Output = OutputOpt) -> None:
    """Download the model artifact (model.tar.gz) of a completed job."""
    path = client(ctx).jobs.download(name, dest, what="output" if output_data else "model")
    emit({"name": name, "path": os.fspath(path)}, output, lambda: console.print(f"{name} -> {path}"))
