"""`slipway admin`: local administration of a home folder, for whoever can read it (no key, no server needed)."""

from __future__ import annotations

import getpass
import socket

import typer

from slipway.cli.output import Output, OutputOpt, console, emit, err_console
from slipway.cli.state import CliState
from slipway.settings import Settings

app = typer.Typer(help="Local administration of a home folder (works with or without a running server).",
                  no_args_is_help=True)


@app.command("recover")
def recover(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Regain admin access: user 'admin' enabled with the admin role and a new admin key.

    Opens the home's database directly (like `slipway up`), prints the new key, stores it in the
    home's credentials file (profile 'local') and records it in the audit trail (users:Recover).
    """
    from slipway.services import Platform

    state: CliState = ctx.find_root().obj
    settings = Settings.load(home=state.home)
    platform = Platform(settings)
    try:
        platform.migrate()
        created = platform.recover_admin(by=f"{getpass.getuser()}@{socket.gethostname()} (local)")
    finally:
        platform.close()

    def render() -> None:
        console.print(created.key, highlight=False, soft_wrap=True)
        err_console.print(f"[dim]New key {created.key_id} for user 'admin', stored in {settings.credentials_file} "
                          "(profile 'local') and recorded in the audit trail. It is not shown again.[/dim]",
                          highlight=False)

    emit(created, output, render)
