"""`slipway transform` and `slipway transforms list|show|stop`."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, err_console, keeps_running, table
from slipway.cli.state import client
from slipway.errors import InvalidArgument

if TYPE_CHECKING:
    from slipway.schemas.transforms import TransformView

app = typer.Typer(help="Batch transform jobs: a model version's predictions over a dataset version.",
                  no_args_is_help=True)


def _render(v: TransformView) -> None:
    color = {"Completed": "green", "Failed": "red"}.get(v.status, "yellow")
    source = f"endpoint {v.endpoint} ({v.model})" if v.endpoint else v.model
    console.print(f"[bold]{v.name}[/bold]  [{color}]{v.status}[/{color}]  {source} on {v.data} -> "
                  f"{v.output_version or v.output}", highlight=False)
    console.print(f"rows: {v.rows_done}/{v.rows_total}  batches: {v.batches_done}/{v.batches_total}  "
                  f"retries: {v.retries}", highlight=False)
    o = v.options
    console.print(f"split {o.get('split')}, batch {o.get('batch')} rows, parallel {o.get('parallel')}, "
                  f"max payload {o.get('max_payload_mb')} MB, join {'on' if o.get('join') else 'off'}", highlight=False)
    if v.failure_reason:
        console.print(f"reason: {v.failure_reason}", highlight=False)
    if v.failed_rows:
        shown = ", ".join(str(r) for r in v.failed_rows[:20]) + (" …" if len(v.failed_rows) > 20 else "")
        console.print(f"failing input rows (0-based): {shown}", highlight=False)


def _follow(t: Any, name: str, output: Output) -> TransformView:
    """Poll with a Rich progress bar of rows until the job ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), "rows",
                  TimeElapsedColumn(), TimeRemainingColumn(), console=err_console, transient=True,
                  disable=output == Output.json) as prog:
        task = prog.add_task(name, total=None)
        while True:
            v = t.get(name)
            prog.update(task, total=v.rows_total or None, completed=v.rows_done,
                        description=f"{name} {v.status} ({v.batches_done}/{v.batches_total} batches)")
            if v.status in ("Completed", "Failed", "Stopped"):
                return v
            time.sleep(0.3)


def transform(
    ctx: typer.Context,
    model: str = typer.Argument(None, help="The model version: cancer:1, cancer@production (or --endpoint)."),
    endpoint: str = typer.Option(None, "--endpoint", help="Use this endpoint's replicas (its load, its autoscaler) "
                                 "instead of starting temporary ones of MODEL."),
    data: str = typer.Option(..., "--data", "-d", help="CHANNEL=DATASET:VERSION (test=cancer-test:1) or DATASET:VERSION."),
    outputs: list[str] = typer.Option([], "--output", "-o", help="The dataset the predictions become a new version "
                                      "of (preds); also json or table for how this command prints (repeatable)."),
    output_dataset: str = typer.Option(None, "--output-dataset", help="The output dataset, when it is named json "
                                                                      "or table."),
    name: str = typer.Option(None, "--name", help="The job's name (default: transform-<random>)."),
    split: str = typer.Option(None, "--split", help="line (mini-batches of rows; in a folder, of each .csv/.jsonl "
                              "file) or none (the input, or each file of a folder, whole in one request). Default: "
                              "line, none for a folder."),
    batch: int = typer.Option(500, "--batch", help="Rows per request at most (MaxRecords)."),
    parallel: int = typer.Option(2, "--parallel", help="Requests in flight at once (MaxConcurrentTransforms)."),
    max_payload_mb: float = typer.Option(6.0, "--max-payload-mb", help="A request's body at most (MaxPayloadInMB)."),
    join: bool = typer.Option(True, "--join/--no-join", help="Output the input rows with their predictions (default) "
                                                             "or the predictions alone."),
    wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the job with a progress bar until it ends."),
) -> None:
    """Predict over a whole dataset version with temporary replicas (or an endpoint's); the output is a new version.

    A folder version gives a folder version: one FILE.out per input file.

    `--output preds` names the output dataset; `--output json` (as for every command) prints JSON.
    """
    formats = [o for o in outputs if o in ("json", "table")]
    names = [o for o in outputs if o not in ("json", "table")] + ([output_dataset] if output_dataset else [])
    if len(names) != 1:
        raise InvalidArgument(
            f"Option '--output' names {len(names)} output datasets ({', '.join(names) or 'none'}). Expected one: "
            "--output preds (and --output json for JSON).", {"field": "output", "value": names})
    output_name = names[0]
    output = Output(formats[-1]) if formats else Output.table
    channel, sep, ref = data.partition("=")
    if not sep:
        channel, ref = "test", data
    if (model is None) == (endpoint is None):
        raise InvalidArgument("Give a model version (slipway transform cancer:1 …) or --endpoint NAME, not "
                              f"{'both' if model else 'neither'}.", {"field": "model", "value": model,
                                                                       "endpoint": endpoint})
    if split is not None and split not in ("line", "none"):
        raise InvalidArgument(f"Option '--split' has value {split!r}. Expected line or none.",
                              {"field": "split", "value": split})
    name = name or f"transform-{secrets.token_hex(4)}"
    c = client(ctx).transforms
    view = c.create(name, model, ref, output_name, endpoint=endpoint, channel=channel, split=split, batch=batch, parallel=parallel,
                    max_payload_mb=max_payload_mb, join=join)
    if wait:
        with keeps_running(f"Transform {name} keeps running on the server: slipway transforms show {name} "
                           f"(stop it with slipway transforms stop {name})"):
            view = _follow(c, name, output)
    emit(view, output, lambda: _render(view))
    if wait and view.status != "Completed":
        raise typer.Exit(1)


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Transform jobs, newest first."""
    page = client(ctx).transforms.list()
    emit(page, output, lambda: table("Transform jobs", ["name", "status", "model", "data", "rows", "output", "created"],
                                     [[v.name, v.status, v.model, v.data, f"{v.rows_done}/{v.rows_total}",
                                       v.output_version or v.output, ago(v.created_at)] for v in page.items]))


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Status, progress, options, and the failure with the failing input rows."""
    v = client(ctx).transforms.get(name)
    emit(v, output, lambda: _render(v))


@app.command("stop")
def stop(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Stop a transform job (its replicas stop; no output version is made)."""
    v = client(ctx).transforms.stop(name)
    emit(v, output, lambda: _render(v))
