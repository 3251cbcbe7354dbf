"""Entry point of the `slipway` command: global options, command groups, error rendering."""

from __future__ import annotations

import sys

import typer

from slipway import __version__
from slipway.cli.lazy import LazyGroup, defer_imports
from slipway.cli.state import CliState
from slipway.errors import SlipwayError, invalid_argument_from_validation

# httpx 0.28 imports its own command-line client (click, rich.progress, pygments) on `import httpx`, which
# more than doubled the start-up of every slipway command that talks to a server (encode/httpx#3547). This
# process never runs httpx's CLI: a None entry makes that import fail, and httpx falls back to a stub.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

# Every command, in the order of `slipway --help`: name -> ("module:attribute", the line shown there). A command's
# module is imported only when that command is used (slipway.cli.lazy); tests/unit/cli/test_startup.py checks
# that these lines match the commands' own help. A new command or group goes here, not in an import above.
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("slipway.cli.server:up", "Start the platform (API, UI, controllers) in the foreground; Ctrl-C stops it."),
    "status": ("slipway.cli.server:status", "Server URL, version, backends in use and counts."),
    "train": ("slipway.cli.train:train",
              "Train a model: a built-in --algorithm or your own --script, on dataset versions."),
    "process": ("slipway.cli.process:process",
                "Process data: run --script or a --builtin on dataset versions; outputs become new dataset versions."),
    "tune": ("slipway.cli.tuning:tune",
             "Tune hyperparameters: each trial is a training job; the best one is always visible."),
    "transform": ("slipway.cli.transforms:transform", "Predict over a whole dataset version with temporary "
                  "replicas (or an endpoint's); the output is a new version."),
    "login": ("slipway.cli.login:login",
              "Store an API key for a server; later commands with that --url (or SLIPWAY_URL) use it."),
    "data": ("slipway.cli.data:app", "Datasets: immutable, versioned, checksummed."),
    "jobs": ("slipway.cli.jobs:app", "Training jobs: status, logs, metrics, stop, model download."),
    "algorithms": ("slipway.cli.algorithms:app", "Built-in algorithms: hyperparameters with types, ranges and defaults."),
    "users": ("slipway.cli.users:app", "Users: each has one role and any number of API keys."),
    "keys": ("slipway.cli.keys:app",
             "API keys: create, list, revoke; dashboard sign-in links; rotate the master key."),
    "roles": ("slipway.cli.roles:app", "Roles: named policies given to users."),
    "audit": ("slipway.cli.audit:app", "The audit trail: mutating and denied calls."),
    "secrets": ("slipway.cli.secrets:app", "Secrets: stored encrypted, given to jobs by name, never shown."),
    "models": ("slipway.cli.models:app", "Model registry: immutable versions, approval, aliases, lineage."),
    "endpoints": ("slipway.cli.endpoints:app",
                  "Real-time endpoints: model versions behind REST, rolling updates, variants."),
    "monitors": ("slipway.cli.monitors:app",
                 "Drift monitors: captured inputs against a model version's training baseline."),
    "alarms": ("slipway.cli.monitors:alarms",
               "Alarms on metrics (endpoint latency, errors, drift) with webhook and rollback actions."),
    "admin": ("slipway.cli.admin:app",
              "Local administration of a home folder (works with or without a running server)."),
    "pipelines": ("slipway.cli.pipelines:app",
                  "Pipelines: process, train, evaluate, condition, register, deploy — run as one graph."),
    "tuning": ("slipway.cli.tuning:app",
               "Hyperparameter tuning jobs: Bayesian, random, grid; Hyperband early stopping."),
    "transforms": ("slipway.cli.transforms:app",
                   "Batch transform jobs: a model version's predictions over a dataset version."),
}


class SlipwayGroup(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="slipway",
    cls=SlipwayGroup,
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
    from_env = url is not None and ctx.get_parameter_source("url").name == "ENVIRONMENT"  # type: ignore[union-attr]
    ctx.obj = CliState(url=url, home=home, api_key=api_key, debug=debug, url_name="SLIPWAY_URL" if from_env else "--url")


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
    defer_imports()
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
        from slipway.cli.output import err_console

        err_console.print(f"[red]Error:[/red] {error.message}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
