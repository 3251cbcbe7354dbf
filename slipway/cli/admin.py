"""`slipway admin`: local administration of a home folder, for whoever can read it (no key, no server needed)."""

from __future__ import annotations

import getpass
import os
import socket

import typer

from slipway.cli.output import Output, OutputOpt, console, emit, err_console
from slipway.cli.state import CliState
from slipway.settings import Settings

app = typer.Typer(help="Local administration of a home folder (works with or without a running server).",
                  no_args_is_help=True)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"uid {os.getuid()}"


@app.command("recover")
def recover(
    ctx: typer.Context,
    database_url: str = typer.Option(None, "--database-url", help="The server's database, if it was started "
                                                                  "with --database-url (default: the home's)."),
    output: Output = OutputOpt,
) -> None:
    """Regain admin access: user 'admin' enabled with the admin role and a new admin key.

    Opens the home's database directly (like `slipway up`), prints the new key, stores it in the
    home's credentials file (profile 'local') and records it in the audit trail (users:Recover).
    """
    from slipway.services.recovery import recover_admin

    state: CliState = ctx.find_root().obj
    settings = Settings.load(home=state.home, database_url=database_url)
    created = recover_admin(settings, by=f"{_os_user()}@{socket.gethostname()} (local)")

    def render() -> None:
        console.print(created.key, highlight=False, soft_wrap=True)
        err_console.print(f"[dim]New key {created.key_id} for user 'admin', stored in {settings.credentials_file} "
                          "(profile 'local') and recorded in the audit trail. It is not shown again.[/dim]",
                          highlight=False, soft_wrap=True)

    emit(created, output, render)
