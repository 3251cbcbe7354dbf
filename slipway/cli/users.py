"""`slipway users …`: create, list, show, disable, enable, set-role."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, ago, console, emit, table
from slipway.cli.state import client

if TYPE_CHECKING:
    from slipway.schemas.auth import UserView

app = typer.Typer(help="Users: each has one role and any number of API keys.", no_args_is_help=True)


def _line(u: UserView) -> str:
    return f"{u.name}  role {u.role}{'  [red]disabled[/red]' if u.disabled else ''}"


@app.command("create")
def create(ctx: typer.Context, name: str = typer.Argument(..., help="User name (1-63 letters, digits, . _ -)."),
           role: str = typer.Option(..., "--role", "-r", help="admin, data-scientist, viewer, invoker or a custom role."),
           output: Output = OutputOpt) -> None:
    """Create a user; give it a key with `slipway keys create --user NAME`."""
    u = client(ctx).users.create(name, role)
    emit(u, output, lambda: console.print(f"created {_line(u)}. Next: slipway keys create --user {u.name}"))


@app.command("list")
def list_(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """List users with their role, state and number of active keys."""
    items = list(client(ctx).users.iter())
    emit(items, output, lambda: table(None, ["name", "role", "state", "active keys", "created", "by"], [
        [u.name, u.role, "disabled" if u.disabled else "active", u.active_keys, ago(u.created_at), u.created_by]
        for u in items]))


@app.command("show")
def show(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Show one user."""
    u = client(ctx).users.get(name)
    emit(u, output, lambda: console.print(f"{_line(u)}  ({u.active_keys} active keys, created {ago(u.created_at)})"))


@app.command("disable")
def disable(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Disable a user: every key of theirs stops working at once."""
    u = client(ctx).users.disable(name)
    emit(u, output, lambda: console.print(f"disabled {u.name}"))


@app.command("enable")
def enable(ctx: typer.Context, name: str, output: Output = OutputOpt) -> None:
    """Enable a disabled user again."""
    u = client(ctx).users.enable(name)
    emit(u, output, lambda: console.print(f"enabled {u.name}"))


@app.command("set-role")
def set_role(ctx: typer.Context, name: str, role: str = typer.Argument(...), output: Output = OutputOpt) -> None:
    """Give a user another role."""
    u = client(ctx).users.update(name, role=role)
    emit(u, output, lambda: console.print(_line(u)))
