"""`slipway algorithms …`: the built-in algorithms and their hyperparameters."""

from __future__ import annotations

import typer

from slipway.cli.output import Output, OutputOpt, console, emit, table
from slipway.cli.state import client

app = typer.Typer(help="Built-in algorithms: hyperparameters with types, ranges and defaults.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List the built-in algorithms."""
    items = client(ctx).algorithms.list()
    emit(items, output, lambda: table(None, ["name", "problem types", "inputs", "description"], [
        [a.name, ", ".join(a.problem_types), ", ".join(a.input_kinds), a.description] for a in items]))


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Hyperparameters (type, range or choices, default), problem types and the default search space."""
    a = client(ctx).algorithms.get(name)

    def render() -> None:
        console.print(f"[bold]{a.name}[/bold]: {a.description}")
        console.print(f"problem types: {', '.join(a.problem_types)}   inputs: {', '.join(a.input_kinds)}")
        table("hyperparameters", ["name", "type", "range / choices", "default", "help"], [
            [h.name, h.type + (" or None" if h.nullable else ""), h.range, repr(h.default), h.help]
            for h in a.hyperparameters])
        table("default search space", ["name", "space"], [[k, v] for k, v in a.search_space.items()])

    emit(a, output, render)
