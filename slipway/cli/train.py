"""`slipway train`: start a training job (a built-in algorithm or a script) and, in a terminal, follow it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from slipway.cli.jobs import render_metrics, status_text
from slipway.cli.output import Output, OutputOpt, console, emit, err_console, keeps_running
from slipway.cli.state import client
from slipway.errors import InvalidArgument, JobFailed


def parse_value(text: str) -> Any:
    """``200`` -> 200, ``0.5`` -> 0.5, ``true`` -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_pairs(values: list[str], what: str, example: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{what} {item!r} is not valid. Expected KEY=VALUE, e.g. {example}.",
                                  {"field": what, "value": item})
        out[key.strip()] = value
    return out


def parse_channels(data: list[str]) -> dict[str, str]:
    """``--data train=cancer:1`` (a bare ``cancer:1`` is the train channel)."""
    channels: dict[str, str] = {}
    for item in data:
        channel, sep, ref = item.partition("=")
        if not sep:
            channel, ref = "train", item
        channels[channel.strip()] = ref.strip()
    return channels


def train(
    ctx: typer.Context,
    algorithm: str = typer.Option(None, "--algorithm", "-a", help="A built-in algorithm (slipway algorithms list)."),
    script: Path = typer.Option(None, "--script", help="Your training script (SageMaker script mode)."),
    source_dir: Path = typer.Option(None, "--source-dir", help="Folder uploaded with the script (its working "
                                                                "directory; requirements.txt is installed)."),
    framework: str = typer.Option(None, "--framework", help="sklearn, pytorch, keras, xgboost or custom."),
    data: list[str] = typer.Option([], "--data", "-d", help="CHANNEL=DATASET:VERSION, e.g. train=cancer:1 "
                                                            "(repeatable)."),
    hp: list[str] = typer.Option([], "--hp", help="Hyperparameter NAME=VALUE (repeatable)."),
    metric: list[str] = typer.Option([], "--metric", help="NAME=REGEX over log lines, e.g. "
                                                          "'rmse=Test RMSE: ([0-9.]+)' (repeatable)."),
    name: str = typer.Option(None, "--name", "-n", help="Job name (default: generated)."),
    label: str = typer.Option(None, "--label", help="Target column (default: the dataset version's label)."),
    validation_split: float = typer.Option(None, "--validation-split", help="Share of train held out for "
                                                                            "evaluation, e.g. 0.2."),
    max_runtime: int = typer.Option(None, "--max-runtime", help="Seconds before the job is stopped."),
    memory_limit: int = typer.Option(None, "--memory-limit", help="Memory limit of the job in MB."),
    cpus: float = typer.Option(None, "--cpus", help="CPUs the job asks of a Ray cluster (default 1; the local "
                                                    "executor runs it here regardless)."),
    gpus: float = typer.Option(None, "--gpus", help="GPUs the job asks of a Ray cluster (default 0)."),
    secret: list[str] = typer.Option([], "--secret", help="A secret (slipway secrets set NAME) the job gets as the "
                                                          "environment variable NAME, redacted from its log "
                                                          "(repeatable)."),
    wait: bool = typer.Option(None, "--wait/--no-wait", help="Follow the job until it ends (default in a terminal)."),
    register: str = typer.Option(None, "--register", help="Register the model under this name when the job "
                                                          "completes (implies --wait)."),
    output: Output = OutputOpt,
) -> None:
    """Train a model: a built-in --algorithm or your own --script, on dataset versions."""
    channels = parse_channels(data)
    hps = {k: parse_value(v) for k, v in parse_pairs(hp, "Hyperparameter", "--hp C=0.5").items()}
    defs = parse_pairs(metric, "Metric definition", "--metric 'rmse=Test RMSE: ([0-9.]+)'")
    if (algorithm is None) == (script is None):
        raise InvalidArgument("Pass exactly one of --algorithm (a built-in) and --script (your own code).",
                              {"field": "algorithm"})
    c = client(ctx)
    job = c.jobs.create(name, algorithm=algorithm, script=script, source_dir=source_dir, framework=framework,
                        data=channels, hyperparameters=hps, label=label, validation_split=validation_split,
                        metric_definitions=defs, max_runtime=max_runtime, memory_limit_mb=memory_limit,
                        secrets=secret, cpus=cpus, gpus=gpus)
    if register and wait is False:
        raise InvalidArgument("--register waits for the job to complete; drop --no-wait (or register later with "
                              "`slipway models register JOB --name NAME`).", {"field": "register"})
    if wait is None:
        wait = bool(register) or (sys.stdout.isatty() and output == Output.table)
    if not wait:
        emit(job.view, output, lambda: console.print(
            f"{job.name}: {status_text(job.view)}. Follow it with: slipway jobs logs {job.name} --follow"))
        return
    note = (f"job {job.name} keeps running on the server. Follow it: slipway jobs logs {job.name} --follow; "
            f"stop it: slipway jobs stop {job.name}.")
    if register:
        note += f" It is not registered: when it completes, run slipway models register {job.name} --name {register}."
    if output == Output.json:
        try:
            with keeps_running(note):
                job.wait()
        except JobFailed:
            pass
        result: dict[str, Any] = job.view.model_dump(mode="json")
        if register and job.status == "Completed":
            result["registered"] = c.models.register(job.name, register).model_dump(mode="json", by_alias=True)
        emit(result, output, lambda: None)
        raise typer.Exit(0 if job.status == "Completed" else 1)
    console.print(f"[bold]{job.name}[/bold] submitted; following its logs (Ctrl-C detaches, the job goes on).")
    with console.status(f"{job.name}: {job.status}") as spinner:
        def update(v: Any) -> None:
            elapsed = f" {v.duration_s:.1f}s" if v.duration_s is not None else ""
            spinner.update(f"{v.name}: {v.status} ({v.secondary_status}){elapsed}")

        try:
            with keeps_running(note):
                job.wait(logs=True, on_update=update)
        except JobFailed:
            pass
    v = job.view
    console.print(f"[bold]{v.name}[/bold]: {status_text(v)} ({v.secondary_status}) in {v.duration_s or 0:.1f}s")
    if v.status == "Failed":
        err_console.print("[red]Failure reason:[/red]", end=" ")
        err_console.print(v.failure_reason, markup=False, highlight=False)
        raise typer.Exit(1)
    render_metrics(v.final_metrics, "final metrics")
    if v.model_available and register:
        mv = c.models.register(v.name, register)
        console.print(f"registered {mv.ref} (approval {mv.approval})")
    elif v.model_available:
        console.print(f"model: slipway jobs download {v.name}  ·  register: slipway models register {v.name} --name NAME")
    if v.status != "Completed":
        raise typer.Exit(1)
