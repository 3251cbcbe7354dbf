"""Entry point of the `slipway` command: global options, command groups, error rendering."""

from __future__ import annotations

import sys

import typer

from slipway import __version__
from slipway.cli import (
    admin,
    algorithms,
    audit,
    data,
    endpoints,
    jobs,
    keys,
    login,
    models,
    monitors,
    pipelines,
    process,
    roles,
    secrets,
    server,
    train,
    transforms,
    tuning,
    users,
)
from slipway.cli.output import err_console
from slipway.cli.state import CliState
from slipway.errors import SlipwayError, invalid_argument_from_validation

# httpx 0.28 imports its own command-line client (click, rich.progress, pygments) on `import httpx`, which
# more than doubled the start-up of every slipway command that talks to a server (encode/httpx#3547). This
# process never runs httpx's CLI: a None entry makes that import fail, and httpx falls back to a stub.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

app = typer.Typer(
    name="slipway",
    help="Slipway: a self-hosted ML platform. Start with `slipway up`, then `slipway data push`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"slipway {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", envvar="SLIPWAY_URL", help="Server URL (default: the local server)."),
    home: str = typer.Option(None, "--home", envvar="SLIPWAY_HOME", help="Home folder (default ~/.slipway)."),
    api_key: str = typer.Option(None, "--api-key", envvar="SLIPWAY_API_KEY", help="API key (default: stored credentials).", show_envvar=False),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = CliState(url=url, home=home, api_key=api_key, debug=debug)


app.add_typer(data.app, name="data")
app.add_typer(jobs.app, name="jobs")
app.add_typer(algorithms.app, name="algorithms")
app.add_typer(users.app, name="users")
app.add_typer(keys.app, name="keys")
app.add_typer(roles.app, name="roles")
app.add_typer(audit.app, name="audit")
app.add_typer(secrets.app, name="secrets")
app.add_typer(models.app, name="models")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(monitors.app, name="monitors")
app.add_typer(monitors.alarms, name="alarms")
app.add_typer(admin.app, name="admin")
app.add_typer(pipelines.app, name="pipelines")
server.register(app)
train.register(app)
process.register(app)
tuning.register(app)
transforms.register(app)
login.register(app)


def _as_slipway_error(exc: Exception) -> SlipwayError | None:
    """A user's mistake as a SlipwayError: ours as they are, pydantic's (a request model built by a command,
    e.g. --validation-split 1.5) as one InvalidArgument line naming the field, the value and the expectation.
    Pydantic is only looked up when a command has imported it, so `slipway --help` never loads it."""
    if isinstance(exc, SlipwayError):
        return exc
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None and isinstance(exc, pydantic.ValidationError):
        return invalid_argument_from_validation(list(exc.errors()))
    return None


def main() -> None:
    debug = "--debug" in sys.argv
    try:
        app()
    except KeyboardInterrupt:  # Typer turns Ctrl-C in a command into exit 130; commands that wait on the
        sys.exit(130)          # server say what keeps running first (slipway.cli.output.keeps_running).
    except Exception as exc:
        error = _as_slipway_error(exc)
        if error is None:
            raise
        if debug:
            import traceback

            traceback.print_exc()
        err_console.print(f"[red]Error:[/red] {error.message}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
