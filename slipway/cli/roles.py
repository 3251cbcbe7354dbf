"""`slipway roles …`: list, show, create, delete."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from slipway.cli.keys import read_policy
from slipway.cli.output import Output, OutputOpt, console, emit, table
from slipway.cli.state import client

app = typer.Typer(help="Roles: named policies given to users.", no_args_is_help=True)


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List built-in and custom roles."""
    items = client(ctx).roles.list()
    emit(items, output, lambda: table(None, ["name", "kind", "description", "statements"], [
        [r.name, "built-in" if r.builtin else "custom", r.description, len(r.policy.get("Statement", []))]
        for r in items]))


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Show a role's policy."""
    r = client(ctx).roles.get(name)
    emit(r, output, lambda: console.print_json(json.dumps(r.policy)))


@app.command("create")
def create(ctx: typer.Context, name: str,
           policy: Path = typer.Option(..., "--policy", help='JSON file {"Statement": [...]}.'),
           description: str = typer.Option("", "--description", "-d"), output: Output = OutputOpt) -> None:
    """Create a custom role from a policy document."""
    r = client(ctx).roles.create(name, read_policy(policy), description)
    emit(r, output, lambda: console.print(f"created role {r.name}"))


@app.command("delete")
def delete(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Delete a custom role nobody holds."""
    r = client(ctx).roles.delete(name)
    emit(r, output, lambda: console.print(f"deleted role {r.name}"))
