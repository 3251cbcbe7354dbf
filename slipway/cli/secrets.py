"""`slipway secrets …`: set (value from stdin or a prompt, never an argument), list names, delete."""

from __future__ import annotations

import sys

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, table
from slipway.cli.state import client
from slipway.errors import InvalidArgument

app = typer.Typer(help="Secrets: stored encrypted, given to jobs by name, never shown.", no_args_is_help=True)


@app.command("set")
def set_(ctx: typer.Context, name: str = typer.Argument(..., help="Secret name, e.g. DB_PASSWORD."),
         output: Output = OutputOpt) -> None:
    """Create or replace a secret. The value is read from stdin, or prompted for (hidden)."""
    if sys.stdin.isatty():
        value = typer.prompt(f"Value of {name}", hide_input=True, confirmation_prompt=True)
    else:
        value = sys.stdin.read().rstrip("\r\n")
    if not value:
        raise InvalidArgument(f"The value of secret {name!r} is empty. Pipe it on stdin or type it at the prompt.",
                              {"field": "value"})
    s = client(ctx).secrets.set(name, value)
    emit(s, output, lambda: console.print(f"set secret {s.name}"))


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List secret names (values are never shown)."""
    items = client(ctx).secrets.list()
    emit(items, output, lambda: table(None, ["name", "updated", "by", "created"], [
        [s.name, ago(s.updated_at), s.updated_by, ago(s.created_at)] for s in items]))


@app.command("delete")
def delete(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Delete a secret."""
    s = client(ctx).secrets.delete(name)
    emit(s, output, lambda: console.print(f"deleted secret {s.name}"))
