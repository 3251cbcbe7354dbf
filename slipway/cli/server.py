"""`slipway up` and `slipway status`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from slipway.cli.output import Output, OutputOpt, console, emit, table
from slipway.cli.state import CliState, client

if TYPE_CHECKING:
    from slipway.services import Platform


def up(
    ctx: typer.Context,
    host: str = typer.Option(None, "--host", help="Listen address (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", "-p", help="Port (default 8080; 0 picks a free one)."),
    database_url: str = typer.Option(None, "--database-url", help="sqlite:///… or postgresql+psycopg://…"),
    artifact_url: str = typer.Option(None, "--artifact-url", help="file://… or s3://…"),
    demo: bool = typer.Option(False, "--demo/--no-demo", help="Load the demo workspace into a new home."),
    log_level: str = typer.Option(None, "--log-level", help="debug, info, warning, error."),
    tls_cert: str = typer.Option(None, "--tls-cert", help="PEM certificate (chain): serve HTTPS."),
    tls_key: str = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
) -> None:
    """Start the platform (API, UI, controllers) in the foreground; Ctrl-C stops it."""
    import logging

    from slipway.server import serve
    from slipway.settings import Settings

    state: CliState = ctx.find_root().obj
    settings = Settings.load(
        home=state.home, host=host, port=port, database_url=database_url, artifact_url=artifact_url,
        log_level=log_level,
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str, platform: Platform) -> None:
        console.print(f"[bold green]Slipway is up[/bold green] on {url}  (home {settings.home}; API docs {url}/docs)")
        isolation = platform.sandbox.isolation
        if not isolation.isolated:
            console.print(f"[bold red]Warning:[/bold red] {isolation.message}. Any job, tuning trial or endpoint "
                          "model can read this home (the admin key, the master key, the database).")
        for line in next_steps(url, platform, demo):
            console.print(line, highlight=False, soft_wrap=True)

    serve(settings, demo=demo, ready=ready, ssl_certfile=tls_cert, ssl_keyfile=tls_key)


def next_steps(url: str, platform: Platform, demo: bool) -> list[str]:
    """What `slipway up` prints once listening: how to sign in to the dashboard, and three next commands."""
    from slipway.errors import SlipwayError
    from slipway.schemas.auth import SIGNIN_LIFETIME, signin_url

    lines = []
    try:
        link = signin_url(url, platform.auth.create_signin_link("admin").key)
        lines.append(f"Dashboard: {link}")
        lines.append(f"  (a one-time sign-in link for admin, valid {SIGNIN_LIFETIME}; "
                     "`slipway keys signin-link` prints another)")
    except SlipwayError:  # no admin user (removed by hand): sign in with a key instead
        lines.append(f"Dashboard: {url}/  (sign in with a key: slipway keys create --expires 7d)")
    lines.append("Next, in another terminal with .venv/bin on your PATH:")
    lines.append("  slipway status                 # what runs where, and counts")
    if demo:
        lines.append("  slipway data list              # the demo's datasets (demo-…), loading in the background")
        lines.append("  slipway train --algorithm logistic-regression --data train=demo-cancer:1 "
                     "--validation-split 0.2")
    else:
        lines.append("  slipway data push NAME FILE.csv --label COLUMN")
        lines.append("  slipway algorithms list        # built-in algorithms, then: slipway train --help")
    lines.append("The README's five-minute tour goes on from there.")
    return lines


def status(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Server URL, version, backends in use and counts."""
    s = client(ctx).plain.status()  # the server's JSON as it is: no pydantic to import

    def render() -> None:
        # highlighting (numbers, the URL) shows only in a terminal; elsewhere its regexes were a 40th of the command
        console.print(f"[bold]Slipway {s.version}[/bold] at {s.url}  (pid {s.pid}, since {s.started_at})",
                      highlight=console.is_terminal)
        table(None, ["", ""], [
            ["home", s.home],
            ["database", f"{s.database_backend}: {s.database}"],
            ["artifacts", s.artifact_store],
            ["compute", s.compute],
            ["serving runtime", s.serving_runtime],
            ["controllers", ", ".join(c if c in s.leading else f"{c} (led by another server)" for c in s.controllers)],
            ["sandbox", s.sandbox.message if s.sandbox.isolated else f"[bold red]{s.sandbox.message}[/bold red]"],
            *[[k.replace("_", " "), v] for k, v in s.counts.items()],
        ])

    emit(s, output, render)
