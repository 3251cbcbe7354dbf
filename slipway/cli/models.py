"""`slipway models …`: import, list, show, approve, reject, alias, history, export, delete, baseline."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, human_size, table
from slipway.cli.state import client

if TYPE_CHECKING:
    from slipway.schemas import ModelVersionView

app = typer.Typer(help="Model registry: immutable versions, approval, aliases, lineage.", no_args_is_help=True)


def _line(v: ModelVersionView) -> str:
    aliases = f"  @{', @'.join(v.aliases)}" if v.aliases else ""
    return f"{v.ref}  ({v.framework}, {v.problem_type or 'custom'}, {v.approval}, sha256 {v.sha256[:12]}…){aliases}"


@app.command("register")
def register(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="A Completed training job, or a tuning job (its best trial)."),
    name: str = typer.Option(..., "--name", "-n", help="Model name (the group the version joins)."),
    description: str = typer.Option("", "--description", "-d"),
    output: Output = OutputOpt,
) -> None:
    """Register a job's model (or a tuning job's best) as a new version, with its lineage."""
    v = client(ctx).models.register(source, name, description=description)
    emit(v, output, lambda: console.print(f"registered {_line(v)}"))


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="model.tar.gz (contract or SageMaker-style), a model folder, .joblib/.pkl, .keras or TorchScript .pt."),
    name: str = typer.Option(..., "--name", "-n", help="Model name (the group the version joins)."),
    framework: str = typer.Option(None, "--framework", help="Framework of a single-file model: sklearn (.joblib/.pkl), keras (.keras) or pytorch (TorchScript .pt)."),
    description: str = typer.Option("", "--description", "-d"),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="Export a verified ONNX copy for fast serving."),
    output: Output = OutputOpt,
) -> None:
    """Bring your own model: a scikit-learn estimator, a SageMaker model.tar.gz, or an exported backup."""
    v = client(ctx).models.import_(path, name, framework=framework, description=description, onnx=onnx)
    emit(v, output, lambda: console.print(f"registered {_line(v)}"))


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List models with their latest version and aliases."""
    items = client(ctx).plain.models(limit=1000)  # the server's JSON as it is: no pydantic to import

    def render() -> None:
        table(None, ["name", "versions", "latest", "framework", "problem", "approval", "aliases", "registered"],
              [[m.name, m.versions, m.latest.ref if m.latest else "", m.latest.framework if m.latest else "",
                m.latest.problem_type if m.latest else "", m.latest.approval if m.latest else "",
                ", ".join(f"{a}→{n}" for a, n in m.aliases.items()), ago(m.latest.created_at if m.latest else None)]
               for m in items])

    emit(items, output, render)


@app.command("versions")
def versions(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Every version of a model, newest first."""
    items = client(ctx).models.versions(name, limit=1000).items

    def render() -> None:
        table(name, ["ref", "framework", "approval", "aliases", "metrics", "source", "registered"],
              [[v.ref, v.framework, v.approval, ", ".join(v.aliases),
                ", ".join(f"{k}={val:.4g}" for k, val in v.metrics.items() if isinstance(val, (int, float)))[:60],
                v.source.get("job") or v.source.get("kind", ""), ago(v.created_at)] for v in items])

    emit(items, output, render)


@app.command("show")
def show(ctx: typer.Context, ref: str = typer.Argument(..., help="name:N, name:latest, name or name@alias"),
         output: Output = OutputOpt) -> None:
    """A version: metrics, signature, lineage (job, dataset versions, hyperparameters), approval, aliases."""
    v = client(ctx).models.get(ref)

    def render() -> None:
        console.print(f"[bold]{v.ref}[/bold]  {v.framework}  {v.problem_type or 'custom'}")
        console.print(f"approval: {v.approval}" + (f" ({v.approval_reason})" if v.approval_reason else "")
                      + (f" by {v.approval_by}" if v.approval_by else ""))
        console.print(f"aliases: {', '.join(v.aliases) or '-'}   served by: {', '.join(v.used_by) or '-'}")
        console.print(f"size: {human_size(v.size)}   sha256: {v.sha256}")
        console.print(f"runtime: {v.runtime} ({v.runtime_reason})")
        console.print(f"registered: {v.created_at.isoformat(timespec='seconds')} by {v.created_by or '-'} "
                      f"({v.source.get('kind', '')}{' ' + v.source['job'] if v.source.get('job') else ''})")
        if v.metrics:
            table("metrics", ["metric", "value"], sorted(v.metrics.items()))
        lin = v.lineage
        if lin:
            rows = [["job", lin.get("job") or "-"], ["algorithm", lin.get("algorithm") or "-"]]
            rows += [[f"dataset ({ch})", ds] for ch, ds in (lin.get("datasets") or {}).items()]
            rows += [[f"hyperparameter {k}", val] for k, val in (lin.get("hyperparameters") or {}).items()]
            table("lineage", ["", ""], rows)
        sig = v.signature
        inputs = sig.get("inputs") or []
        console.print(f"signature: {sig.get('input_kind')} input, {len(inputs)} features"
                      + (f"; labels {', '.join(sig['labels'])}" if sig.get("labels") else ""))
        if inputs:
            table(None, ["feature", "dtype"], [[i["name"], i.get("dtype", "")] for i in inputs])
        b = v.baseline
        console.print(f"baseline: {b['status']} from {b['dataset'] or '-'} ({b['rows']} rows, {b['features']} features)"
                      + (f": {b['reason']}" if b.get("reason") else "") if b else
                      f"baseline: none (slipway models baseline {v.ref} --from-dataset DATASET:N)", highlight=False)

    emit(v, output, render)


@app.command("approve")
def approve(ctx: typer.Context, ref: str, reason: str = typer.Option("", "--reason"),
            output: Output = OutputOpt) -> None:
    """Mark a version Approved."""
    v = client(ctx).models.approve(ref, reason)
    emit(v, output, lambda: console.print(f"{v.ref} is {v.approval}"))


@app.command("reject")
def reject(ctx: typer.Context, ref: str, reason: str = typer.Option("", "--reason"),
           output: Output = OutputOpt) -> None:
    """Mark a version Rejected."""
    v = client(ctx).models.reject(ref, reason)
    emit(v, output, lambda: console.print(f"{v.ref} is {v.approval}"))


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="e.g. production, staging."),
    version: int = typer.Argument(None, help="Version the alias moves to."),
    remove: bool = typer.Option(False, "--remove", help="Remove the alias instead."),
    output: Output = OutputOpt,
) -> None:
    """Move an alias to a version (every move is kept: `slipway models history`)."""
    c = client(ctx)
    if remove:
        c.models.remove_alias(name, alias_name)
        emit({"name": name, "alias": alias_name, "removed": True}, output,
             lambda: console.print(f"removed {name}@{alias_name}"))
        return
    if version is None:
        raise typer.BadParameter("give the VERSION the alias moves to, or --remove")
    v = c.models.alias(name, alias_name, version)
    emit(v, output, lambda: console.print(f"{name}@{alias_name} -> {v.ref}"))


@app.command("history")
def history(ctx: typer.Context, name: str, alias_name: str = typer.Option(None, "--alias"),
            output: Output = OutputOpt) -> None:
    """Which version held which alias when; registrations and approval changes too."""
    events = client(ctx).models.history(name, alias_name)

    def render() -> None:
        table(f"history of {name}", ["when", "who", "event", "alias", "from", "to", "note"],
              [[e.at.isoformat(timespec="seconds"), e.by or "-", e.kind, e.alias or "", e.from_value or "",
                e.to_value or "", e.reason] for e in events])

    emit([e.model_dump(mode="json", by_alias=True) for e in events], output, render)


@app.command("export")
def export(ctx: typer.Context, ref: str, dest: Path = typer.Argument(..., help="File to write (model.tar.gz)."),
           output: Output = OutputOpt) -> None:
    """Write a version's model.tar.gz (a backup: `slipway models import` restores it byte-identical)."""
    c = client(ctx)
    v = c.models.get(ref)
    target = c.models.export(v.ref, dest)
    emit({"ref": v.ref, "path": str(target), "sha256": v.sha256, "size": v.size}, output,
         lambda: console.print(f"{v.ref} -> {target} (sha256 {v.sha256[:12]}…)"))


@app.command("delete")
def delete(ctx: typer.Context, ref: str = typer.Argument(..., help="name:N"),
           force: bool = typer.Option(False, "--force", help="Delete even when an alias points at it."),
           output: Output = OutputOpt) -> None:
    """Delete a version (refused while an endpoint serves it)."""
    v = client(ctx).models.delete(ref, force=force)
    emit(v, output, lambda: console.print(f"deleted {v.ref}"))


@app.command("baseline")
def baseline(ctx: typer.Context, ref: str = typer.Argument(..., help="name:N or name:latest"),
             from_dataset: str = typer.Option(None, "--from-dataset", help="Dataset version (name:N) to compute "
                                              "from; default: the model's training data."),
             output: Output = OutputOpt) -> None:
    """(Re)compute a version's training baseline (statistics.json, constraints.json) for drift monitors."""
    b = client(ctx).baselines.compute(ref, from_dataset)
    emit(b, output, lambda: console.print(
        f"{b.model}: baseline {b.status} from {b.dataset}: {b.features} features, {b.rows} rows"
        + (f" (a sample of {b.total_rows})" if b.total_rows > b.rows else ""), highlight=False))
