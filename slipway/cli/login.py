"""`slipway login`: check a key against a server and store it as a profile in the credentials file."""

from __future__ import annotations

import typer

from slipway.cli.output import Output, OutputOpt, console, emit
from slipway.cli.state import CliState


def login(
    ctx: typer.Context,
    url: str = typer.Option(..., "--url", help="Server URL, e.g. https://host:8080."),
    key: str = typer.Option(None, "--key", help="API key (prompted for, hidden, when omitted)."),
    profile: str = typer.Option(None, "--profile", help="Profile name (default: the URL)."),
    output: Output = OutputOpt,
) -> None:
    """Store an API key for a server; later commands with that --url (or SLIPWAY_URL) use it."""
    from slipway.client import Client
    from slipway.credentials import save_profile
    from slipway.sdk.http import check_url
    from slipway.settings import Settings

    check_url(url, "--url")
    state: CliState = ctx.find_root().obj
    key = key or typer.prompt("API key", hide_input=True)
    settings = Settings.load(home=state.home)
    with Client(url=url, api_key=key, settings=settings) as c:
        me = c.whoami()  # refuses a wrong key before anything is stored
    save_profile(settings.credentials_file, profile or url.rstrip("/"), key, url=url.rstrip("/"), user=me.user)
    emit({"url": url, "user": me.user, "role": me.role, "key_id": me.key_id}, output, lambda: console.print(
        f"logged in to {url} as {me.user} ({me.role}); key {me.key_id} stored in {settings.credentials_file}"))
