"""`slipway up` and `slipway status`."""

from __future__ import annotations

import logging

import typer

from slipway.cli.output import Output, OutputOpt, console, emit, table
from slipway.cli.state import CliState, client
from slipway.settings import Settings


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
    from slipway.server import serve

    state: CliState = ctx.find_root().obj
    settings = Settings.load(
        home=state.home, host=host, port=port, database_url=database_url, artifact_url=artifact_url,
        log_level=log_level,
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def ready(url: str) -> None:
        console.print(f"[bold green]Slipway is up[/bold green] on {url}  (home {settings.home}; API docs {url}/docs)")

    serve(settings, demo=demo, ready=ready, ssl_certfile=tls_cert, ssl_keyfile=tls_key)


def status(ctx: typer.Context, output: Output = OutputOpt) -> None:
    """Server URL, version, backends in use and counts."""
    s = client(ctx).status()

    def render() -> None:
        console.print(f"[bold]Slipway {s.version}[/bold] at {s.url}  (pid {s.pid}, since {s.started_at})")
        table(None, ["", ""], [
            ["home", s.home],
            ["database", f"{s.database_backend}: {s.database}"],
            ["artifacts", s.artifact_store],
            ["controllers", ", ".join(c if c in s.leading else f"{c} (led by another server)" for c in s.controllers)],
            *[[k.replace("_", " "), v] for k, v in s.counts.items()],
        ])

    emit(s, output, render)


def register(app: typer.Typer) -> None:
    app.command("up")(up)
    app.command("status")(status)
