"""`slipway audit …`: who did what, when, from where."""

from __future__ import annotations

import typer

from slipway.cli.output import Output, OutputOpt, emit, table
from slipway.cli.state import client

app = typer.Typer(help="The audit trail: mutating and denied calls.", no_args_is_help=True)


@app.command("list")
def list_(
    ctx: typer.Context,
    since: str = typer.Option(None, "--since", help="A duration (1h, 30d) or an ISO time."),
    user: str = typer.Option(None, "--user", "-u"),
    action: str = typer.Option(None, "--action", "-a", help="An action; '*' wildcards allowed ('datasets:*')."),
    outcome: str = typer.Option(None, "--outcome", help="allowed, denied or failed."),
    limit: int = typer.Option(100, "--limit", "-n", help="At most this many events, newest first."),
    output: Output = OutputOpt,
) -> None:
    """List audit events, newest first."""
    page = client(ctx).audit.list(since=since, user=user, action=action, outcome=outcome, limit=min(limit, 1000))
    items = page.items
    emit(items, output, lambda: table(None, ["time", "user", "key", "action", "resource", "source", "outcome",
                                             "status", "request"], [
        [e.time.isoformat(timespec="seconds"), e.user or "-", e.key_id or "-", e.action, e.resource, e.source,
         e.outcome, e.status, e.request_id] for e in items]))
