"""`slipway tune` and `slipway tuning list|show|stop|resume`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, keeps_running, table
from slipway.cli.state import client
from slipway.cli.train import parse_channels, parse_pairs, parse_value
from slipway.errors import InvalidArgument

if TYPE_CHECKING:
    from slipway.schemas.tuning import TuningJobView

app = typer.Typer(help="Hyperparameter tuning jobs: Bayesian, random, grid; Hyperband early stopping.",
                  no_args_is_help=True)


def _counters(v: TuningJobView) -> str:
    c = v.counters
    parts = [f"{c.get(k, 0)} {k.replace('_', ' ')}" for k in ("completed", "running", "failed", "pruned", "stopped")
             if c.get(k)]
    return ", ".join(parts) or "no trials yet"


def _best(v: TuningJobView) -> str:
    b = v.best_trial
    if b is None:
        return "none yet"
    params = ", ".join(f"{k}={_fmt(val)}" for k, val in b.params.items())
    return f"trial {b.number} ({b.job}): {v.objective} = {_fmt(b.objective)}  [{params}]"


def _fmt(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def render(v: TuningJobView) -> None:
    direction = "maximize" if v.maximize else "minimize"
    console.print(f"[bold]{v.name}[/bold]  {v.status}  ({v.strategy}, {direction} {v.objective}, "
                  f"early stopping {v.early_stopping})")
    console.print(f"trials: {_counters(v)}  of max {v.max_trials} ({v.max_parallel} in parallel)")
    console.print(f"best: {_best(v)}")
    if v.failure_reason:  # on stdout with the rest, so it cannot interleave with the table
        console.print("[red]reason:[/red] ", end="")
        console.print(v.failure_reason, markup=False, highlight=False)
    console.print("ranges: " + ", ".join(f"{k}={r}" for k, r in v.ranges.items()))
    if v.trials:
        names = list(v.ranges)
        table(None, ["trial", "status", v.objective, *names, "job", "note"],
              [[t.number, t.status, _fmt(t.objective) if t.objective is not None else "",
                *[_fmt(t.params.get(n, "")) for n in names], t.job or "", t.reason] for t in v.trials])


def tune(
    ctx: typer.Context,
    algorithm: str = typer.Option(None, "--algorithm", "-a", help="A built-in algorithm."),
    script: Path = typer.Option(None, "--script", help="Your training script (SageMaker script mode)."),
    source_dir: Path = typer.Option(None, "--source-dir", help="Folder uploaded with the script."),
    framework: str = typer.Option(None, "--framework", help="sklearn, pytorch, keras, xgboost or custom."),
    data: list[str] = typer.Option([], "--data", "-d", help="CHANNEL=DATASET:VERSION (repeatable)."),
    hp: list[str] = typer.Option([], "--hp", help="A fixed hyperparameter NAME=VALUE (repeatable)."),
    metric: list[str] = typer.Option([], "--metric", help="NAME=REGEX over log lines (repeatable)."),
    label: str = typer.Option(None, "--label", help="Target column (default: the dataset version's label)."),
    validation_split: float = typer.Option(None, "--validation-split", help="Share of train held out."),
    secret: list[str] = typer.Option([], "--secret", help="A secret every trial gets as the environment variable "
                                                          "NAME, redacted from its log (repeatable)."),
    objective: str = typer.Option(..., "--objective", help="Metric to optimise, e.g. validation:roc_auc."),
    maximize: bool = typer.Option(True, "--maximize/--minimize", help="Direction of the objective."),
    ranges: list[str] = typer.Option([], "--range", "-r", help="NAME=MIN:MAX[:int][:log] or NAME=A,B,C "
                                                               "(default: the algorithm's search space)."),
    strategy: str = typer.Option("bayesian", "--strategy", help="bayesian, random, grid or cmaes."),
    max_trials: int = typer.Option(20, "--max-trials", help="Trials in all."),
    max_parallel: int = typer.Option(1, "--max-parallel", help="Trials at once."),
    max_runtime: int = typer.Option(None, "--max-runtime", help="Seconds for the whole tuning job."),
    trial_max_runtime: int = typer.Option(None, "--trial-max-runtime", help="Seconds for each trial."),
    cpus: float = typer.Option(None, "--cpus", help="CPUs each trial asks of a Ray cluster (default 1)."),
    gpus: float = typer.Option(None, "--gpus", help="GPUs each trial asks of a Ray cluster (default 0)."),
    early_stopping: str = typer.Option("none", "--early-stopping", help="none, hyperband, asha or median."),
    seed: int = typer.Option(None, "--seed", help="Makes a run reproducible with --max-parallel 1."),
    warm_start: str = typer.Option(None, "--warm-start", help="An earlier tuning job whose trials seed this one."),
    name: str = typer.Option(None, "--name", "-n", help="Tuning job name (default: generated)."),
    wait: bool = typer.Option(None, "--wait/--no-wait", help="Follow it until it ends (default in a terminal)."),
    output: Output = OutputOpt,
) -> None:
    """Tune hyperparameters: each trial is a training job; the best one is always visible."""
    from slipway.schemas.tuning import CreateTuningRequest
    from slipway.sdk.jobs import generate_name

    if (algorithm is None) == (script is None):
        raise InvalidArgument("Pass exactly one of --algorithm (a built-in) and --script (your own code).",
                              {"field": "algorithm"})
    name = name or generate_name(f"{algorithm or script.stem}-tune")[:59]
    c = client(ctx)
    hps = {k: parse_value(v) for k, v in parse_pairs(hp, "Hyperparameter", "--hp C=0.5").items()}
    defs = parse_pairs(metric, "Metric definition", "--metric 'rmse=Test RMSE: ([0-9.]+)'")
    template = c.jobs.build_request(
        name, algorithm=algorithm, script=script, source_dir=source_dir, framework=framework,
        data=parse_channels(data), hyperparameters=hps, label=label, validation_split=validation_split,
        metric_definitions=defs, max_runtime=trial_max_runtime, secrets=secret, cpus=cpus, gpus=gpus,
    )
    req = CreateTuningRequest(job=template, objective=objective, maximize=maximize, ranges=ranges, strategy=strategy,
                              max_trials=max_trials, max_parallel=max_parallel, max_runtime=max_runtime,
                              early_stopping=early_stopping, seed=seed, warm_start_from=warm_start)
    job = c.tuning.create(name, req)
    if wait is None:
        wait = sys.stdout.isatty() and output == Output.table
    if not wait:
        emit(job.view, output, lambda: console.print(
            f"{job.name}: {job.view.status}. Follow it with: slipway tuning show {job.name}"))
        return
    note = (f"tuning job {job.name} keeps running on the server, its trials too. See it: slipway tuning show "
            f"{job.name}; stop it: slipway tuning stop {job.name}.")
    if output == Output.table:
        with keeps_running(note), console.status(f"{job.name}: starting") as spinner:
            while not job.refresh().view.done:
                spinner.update(f"{job.name}: {_counters(job.view)}; best {_best(job.view)}")
                time.sleep(1)
        render(job.view)
    else:
        with keeps_running(note):
            job.wait(raise_on_failure=False)
        emit(job.view, output, lambda: None)
    if job.view.status != "Completed":
        raise typer.Exit(1)


@app.command("list")
def list_(ctx: typer.Context, status: str = typer.Option(None, "--status"), output: Output = OutputOpt) -> None:
    """Tuning jobs, newest first."""
    items = client(ctx).tuning.list(status=status, limit=1000).items

    def render_list() -> None:
        table(None, ["name", "status", "strategy", "objective", "trials", "best", "started"],
              [[v.name, v.status, v.strategy, v.objective, _counters(v),
                _fmt(v.best_trial.objective) if v.best_trial else "", ago(v.started_at)] for v in items])

    emit(items, output, render_list)


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Status, counters, best trial, and every trial sorted by the objective."""
    v = client(ctx).tuning.get(name).view
    emit(v, output, lambda: render(v))


@app.command("stop")
def stop(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Stop a tuning job and its running trials (resume carries on later)."""
    v = client(ctx).tuning.stop(name).view
    emit(v, output, lambda: console.print(f"{v.name}: {v.status}"))


@app.command("resume")
def resume(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Carry on after a stop, a failure or a server crash; finished trials are kept."""
    v = client(ctx).tuning.resume(name).view
    emit(v, output, lambda: console.print(f"{v.name}: {v.status}"))
