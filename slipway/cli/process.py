"""`slipway process`: run a processing script (SageMaker Processing) whose outputs become dataset versions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from slipway.cli.output import Output, console, emit, err_console, keeps_running
from slipway.cli.state import client
from slipway.errors import InvalidArgument, JobFailed


def _pairs(values: list[str], option: str, example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidArgument(f"{option} {item!r} is not valid. Expected CHANNEL=VALUE, e.g. {option} {example}.",
                                  {"field": option.lstrip("-"), "value": item})
        out[key.strip()] = value.strip()
    return out


def process(
    ctx: typer.Context,
    script: Path = typer.Option(None, "--script", help="Your processing script (SageMaker Processing)."),
    builtin: str = typer.Option(None, "--builtin", help="Built-in processing instead of a script: split, scale, "
                                                        "one-hot or impute (docs/pipelines.md)."),
    param: list[str] = typer.Option([], "--param", "-p", help="KEY=VALUE, a parameter of the built-in, e.g. "
                                                              "train=0.8, seed=1, method=minmax (repeatable)."),
    source_dir: Path = typer.Option(None, "--source-dir", help="Folder uploaded with the script (its working "
                                                                "directory; requirements.txt is installed)."),
    input: list[str] = typer.Option([], "--input", "-i", help="CHANNEL=DATASET:VERSION, read under "
                                                              "/opt/ml/processing/input/CHANNEL (repeatable)."),
    output_: list[str] = typer.Option([], "--output", "-o", help="CHANNEL=DATASET: what the script writes to "
                                      "/opt/ml/processing/output/CHANNEL becomes a new version of DATASET "
                                      "(repeatable); `--output json` (or table) chooses the format, as everywhere."),
    arg: list[str] = typer.Option([], "--arg", help="An argument of the script (repeatable, in order); "
                                                    "/opt/ml/… paths point into the job's folder."),
    name: str = typer.Option(None, "--name", "-n", help="Job name (default: generated)."),
    max_runtime: int = typer.Option(None, "--max-runtime", help="Seconds before the job is stopped."),
    memory_limit: int = typer.Option(None, "--memory-limit", help="Memory limit of the job in MB."),
    cpus: float = typer.Option(None, "--cpus", help="CPUs the job asks of a Ray cluster (default 1; the local "
                                                    "executor runs it here regardless)."),
    gpus: float = typer.Option(None, "--gpus", help="GPUs the job asks of a Ray cluster (default 0)."),
    secret: list[str] = typer.Option([], "--secret", help="A secret the job gets as an environment variable "
                                                          "(repeatable)."),
    wait: bool = typer.Option(None, "--wait/--no-wait", help="Follow the job until it ends (default in a terminal)."),
) -> None:
    """Process data: run --script or a --builtin on dataset versions; outputs become new dataset versions."""
    formats = [o for o in output_ if "=" not in o]
    if len(formats) > 1 or any(f not in ("json", "table") for f in formats):
        raise InvalidArgument(f"--output {formats[-1]!r} is neither CHANNEL=DATASET nor a format (json, table).",
                              {"field": "output", "value": formats[-1], "expected": ["CHANNEL=DATASET", "json",
                                                                                     "table"]})
    output = Output(formats[0]) if formats else Output.table
    if (script is None) == (builtin is None):
        raise InvalidArgument("Give either --script or --builtin (split, scale, one-hot, impute).",
                              {"field": "script", "value": str(script) if script else None})
    if param and builtin is None:
        raise InvalidArgument("--param sets a built-in's parameters; a script takes --arg.",
                              {"field": "param", "value": param[0]})
    c = client(ctx)
    job = c.jobs.process(name, script=script, source_dir=source_dir, builtin=builtin,
                         parameters=_pairs(param, "--param", "train=0.8"),
                         inputs=_pairs(input, "--input", "raw=reviews-raw:3"),
                         outputs=_pairs([o for o in output_ if "=" in o], "--output", "clean=reviews"), arguments=list(arg),
                         max_runtime=max_runtime, memory_limit_mb=memory_limit, secrets=secret,
                         cpus=cpus, gpus=gpus)
    if wait is None:
        wait = sys.stdout.isatty() and output == Output.table
    if not wait:
        emit(job.view, output, lambda: console.print(
            f"{job.name}: {job.status}. Follow it with: slipway jobs logs {job.name} --follow"))
        return
    note = (f"processing job {job.name} keeps running on the server. Follow it: slipway jobs logs {job.name} "
            f"--follow; stop it: slipway jobs stop {job.name}.")
    try:
        with keeps_running(note):
            job.wait(logs=output == Output.table)
    except JobFailed:
        pass
    v = job.view
    result: dict[str, Any] = v.model_dump(mode="json")

    def _table() -> None:
        console.print(f"[bold]{v.name}[/bold]: {v.status} in {v.duration_s or 0:.1f}s")
        for channel, ref in sorted(v.outputs.items()):
            console.print(f"  output {channel} -> {ref}")
        if v.status == "Failed":
            err_console.print("[red]Failure reason:[/red]", end=" ")
            err_console.print(v.failure_reason, markup=False, highlight=False)

    emit(result, output, _table)
    if v.status != "Completed":
        raise typer.Exit(1)
