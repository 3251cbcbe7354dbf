"""`slipway data …`: push, list, show, versions, pull, delete."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from slipway.cli.output import (
    Output,
    OutputOpt,
    ago,
    console,
    emit,
    human_size,
    progress_bar,
    table,
)
from slipway.cli.state import client

if TYPE_CHECKING:
    from slipway.schemas import DatasetVersionView

app = typer.Typer(help="Datasets: immutable, versioned, checksummed.", no_args_is_help=True)

BIG = 16 * 1024 * 1024


def _size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _summary(v: DatasetVersionView) -> str:
    shape = f"{v.rows} rows, {v.columns} columns" if v.columns else f"{v.rows} items"
    return f"{v.ref}  ({shape}, {v.format}, {human_size(v.size)}, sha256 {v.sha256[:12]}…)"


@app.command("push")
def push(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Dataset name (1-63 letters, digits, . _ -)."),
    path: Path = typer.Argument(..., help="A file (csv, parquet, jsonl, npy, npz), a folder of class subfolders, or a folder of files (e.g. MNIST's IDX .gz files)."),
    label: str = typer.Option(None, "--label", "-l", help="Label column (must exist)."),
    format: str = typer.Option(None, "--format", "-f", help="Force a format instead of detecting it."),
    description: str = typer.Option("", "--description", "-d"),
    output: Output = OutputOpt,
) -> None:
    """Push a file or folder as a new dataset version (same bytes return the existing version)."""
    size = _size_of(path) if path.exists() else 0
    show = size >= BIG and output == Output.table
    with progress_bar(f"push {name}", size, enabled=show) as advance:
        result = client(ctx).datasets.push(name, path, label=label, format=format, description=description,
                                           progress=advance)

    def render() -> None:
        verb = "created" if result.created else "unchanged (same content)"
        console.print(f"{_summary(result.version)}  [dim]{verb}[/dim]")

    emit(result, output, render)


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List datasets with their latest version."""
    items = list(client(ctx).plain.datasets())  # the server's JSON as it is: no pydantic to import

    def render() -> None:
        rows = []
        for d in items:
            v = d.latest
            rows.append([d.name, d.versions, v.ref if v else "", v.format if v else "", v.rows if v else "",
                         human_size(v.size) if v else "", v.label if v else "", ago(v.created_at if v else None)])
        table(None, ["name", "versions", "latest", "format", "rows", "size", "label", "pushed"], rows)

    emit(items, output, render)


@app.command("show")
def show(ctx: typer.Context, ref: str = typer.Argument(..., help="name, name:N or name:latest"),
         output: Output = OutputOpt) -> None:
    """Show a version: schema (column, dtype, nulls), rows, size, checksum, who and when."""
    v = client(ctx).datasets.get(ref)

    def render() -> None:
        console.print(f"[bold]{v.ref}[/bold]  {v.format} ({v.kind})  {v.filename}")
        console.print(f"rows: {v.rows}   columns: {v.columns}   size: {human_size(v.size)} ({v.size} bytes)")
        console.print(f"sha256: {v.sha256}")
        console.print(f"label: {v.label or '-'}")
        console.print(f"pushed: {v.created_at.isoformat(timespec='seconds')} by {v.created_by or '-'}")
        if v.schema_:
            table("schema", ["column", "dtype", "nulls"],
                  [[c.name + (" (label)" if c.name == v.label else ""), c.dtype, c.nulls] for c in v.schema_])
        classes = v.info.get("classes")
        if classes:
            table("classes", ["class", "count"], sorted(classes.items()))

    emit(v, output, render)


@app.command("versions")
def versions(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """List every version of a dataset, newest first."""
    page = client(ctx).datasets.versions(name, limit=1000)

    def render() -> None:
        table(name, ["ref", "format", "rows", "columns", "size", "sha256", "pushed"],
              [[v.ref, v.format, v.rows, v.columns, human_size(v.size), v.sha256[:12], ago(v.created_at)]
               for v in page.items])

    emit(page.items, output, render)


@app.command("pull")
def pull(ctx: typer.Context, ref: str, dest: Path = typer.Argument(Path("."), help="Folder to write into."),
         output: Output = OutputOpt) -> None:
    """Download a version (file, or folder for folder datasets) into DEST."""
    c = client(ctx)
    v = c.datasets.get(ref)
    with progress_bar(f"pull {v.ref}", v.size, enabled=v.size >= BIG and output == Output.table) as advance:
        target = c.datasets.pull(v.ref, dest, progress=advance)
    emit({"ref": v.ref, "path": os.fspath(target), "sha256": v.sha256}, output,
         lambda: console.print(f"{v.ref} -> {target}"))


@app.command("delete")
def delete(
    ctx: typer.Context,
    ref: str = typer.Argument(..., help="name:N (one version), or name with --all"),
    force: bool = typer.Option(False, "--force", help="Delete even when jobs or models use it."),
    all_versions: bool = typer.Option(False, "--all", help="Delete every version of NAME."),
    output: Output = OutputOpt,
) -> None:
    """Delete a dataset version (refused while a job or model uses it, unless --force)."""
    c = client(ctx)
    if all_versions:
        n = c.datasets.delete_all(ref, force=force)
        emit({"name": ref, "deleted_versions": n}, output, lambda: console.print(f"deleted {n} versions of {ref}"))
        return
    v = c.datasets.delete(ref, force=force)
    emit(v, output, lambda: console.print(f"deleted {v.ref}"))
