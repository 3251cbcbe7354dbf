"""CLI start-up: `slipway --help` and short commands import only what they use (modules, not timings;
bench/cli_startup.py measures the time), and the static table behind the lazy top-level help matches the
commands themselves."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import typer.main

from slipway.cli.main import COMMANDS, app

ROOT = Path(__file__).resolve().parents[3]
CLI_MODULES = sorted(p.stem for p in (ROOT / "slipway" / "cli").glob("*.py") if p.stem != "__init__")
SERVER_SIDE = ("sqlalchemy", "fastapi", "uvicorn", "starlette", "alembic", "slipway.services", "slipway.db",
               "slipway.api")
# what rich.markdown and rich.traceback would bring, pydantic's plugin loader, the config file's reader
DEFERRED = ("markdown_it", "pygments", "attr", "importlib.metadata", "tomllib")


def test_each_line_of_the_top_help_is_the_commands_own() -> None:
    group = typer.main.get_command(app)
    for name, (_, line) in COMMANDS.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0].strip()
        assert (name, line) == (name, own), "update COMMANDS in slipway/cli/main.py"


def test_the_top_help_is_the_same_before_and_after_the_commands_are_built(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    outputs = []
    for build_all in (False, True):
        group = typer.main.get_command(app)
        if build_all:
            dict(group.commands.items())  # type: ignore[attr-defined]
        with pytest.raises(SystemExit) as exited:
            group.main(["--help"], prog_name="slipway")
        assert exited.value.code == 0
        outputs.append(capsys.readouterr().out)
    assert "Commands" in outputs[0] and "transforms" in outputs[0]
    assert outputs[0] == outputs[1]


def test_every_command_group_of_the_cli_is_in_the_table() -> None:
    targets = {target for target, _ in COMMANDS.values()}
    missing = []
    for stem in CLI_MODULES:
        module = importlib.import_module(f"slipway.cli.{stem}")
        for attribute, value in vars(module).items():
            if isinstance(value, typer.Typer) and value is not app and f"{module.__name__}:{attribute}" not in targets:
                missing.append(f"{module.__name__}:{attribute}")
    assert missing == [], "add them to COMMANDS in slipway/cli/main.py"


def _imported(args: list[str], home: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules `slipway ARGS` imports, from `python -X importtime` (run as the `slipway` script runs), with
    SLIPWAY_HOME and SLIPWAY_URL set (no server there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    env.update({"SLIPWAY_HOME": str(home), "SLIPWAY_URL": "http://127.0.0.1:9", "COLUMNS": "100"})
    script = "from slipway.cli.main import main; main()"
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", script, *args], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    modules = {line.rsplit("|", 1)[1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    return modules, r


@pytest.mark.parametrize(("args", "needed"), [
    (["--help"], []),
    (["--version"], []),
    (["jobs", "--help"], ["jobs"]),
    (["jobs", "list"], ["jobs"]),  # fails (no server), after importing what a command calling the server imports
    (["models", "list", "-o", "json"], ["models"]),
])
def test_a_command_imports_only_what_it_uses(args: list[str], needed: list[str], tmp_path: Path) -> None:
    modules, r = _imported(args, tmp_path)
    assert "slipway.cli.main" in modules, r.stderr[-2000:]
    allowed = {"main", "lazy", "state", "output", "__init__", *needed}
    assert sorted(m for m in modules if m.startswith("slipway.cli.") and m[12:] not in allowed) == []
    assert sorted(m for m in modules if m.startswith(SERVER_SIDE + DEFERRED)) == []
    if "list" in args:
        assert "Error: No Slipway server answers at http://127.0.0.1:9." in r.stderr
        assert "rich._emoji_codes" not in modules  # the CLI's consoles print no :name: emoji codes
        assert "slipway.sdk.plain" in modules, "list commands read records (slipway.sdk.plain)"
        # ... without pydantic: no models of the API, nor typer's pydantic check of the options' values
        assert sorted(m for m in modules if m.startswith(("pydantic", "typer._adapters", "slipway.schemas"))) == []
        # ... over a socket, not httpx nor http.client (slipway.sdk.plainget), nor TLS for an http:// URL; nor what
        # only writing credentials or serving needs
        assert sorted(m for m in modules if m.split(".")[0] in ("httpx", "httpcore", "h11", "anyio", "certifi", "http",
                                                                 "email", "ssl", "secrets", "logging")) == []
        assert "slipway.server" not in modules
    else:
        assert r.returncode == 0, r.stderr[-2000:]
        assert sorted(m for m in modules if m.startswith(("pydantic", "httpx", "slipway.client",
                                                          "slipway.settings"))) == []


def test_a_url_without_scheme_or_host_is_one_line_naming_the_option(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPWAY_")}
    r = subprocess.run([sys.executable, "-m", "slipway.cli.main", "--url", "3", "jobs", "list"], cwd=ROOT,
                       env={**env, "SLIPWAY_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=120)
    assert (r.returncode, r.stderr) == (1, "Error: --url has value '3'. Expected a server URL: http:// or https://, "
                                           "a host and an optional port, e.g. http://127.0.0.1:8080.\n")
    # from the environment, the message names the variable
    from typer.testing import CliRunner

    from slipway.errors import InvalidArgument

    result = CliRunner().invoke(app, ["data", "list"], env={"SLIPWAY_URL": "localhost:8080",
                                                            "SLIPWAY_HOME": str(tmp_path)})
    assert isinstance(result.exception, InvalidArgument)
    assert result.exception.message.startswith("SLIPWAY_URL has value 'localhost:8080'. Expected a server URL")


@pytest.mark.parametrize("url", ["3", "ftp://host", "http://", "localhost:8080", "http://host:port", "http://[::1",
                                 "http://a host", "http://host:70000"])
def test_the_sdk_refuses_a_url_that_is_not_a_server_url(url: str) -> None:
    from slipway.errors import InvalidArgument
    from slipway.sdk.http import check_url

    with pytest.raises(InvalidArgument) as refused:
        check_url(url)
    assert refused.value.details == {"field": "url", "value": url} and repr(url) in refused.value.message
    for good in ("http://127.0.0.1:8080", "https://slipway.example.com/", "http://[::1]:80"):
        assert check_url(good) == good


STAND_INS = """
import os, sys
from slipway.cli.lazy import defer_imports
defer_imports()
from rich.console import Console
from rich.markdown import Markdown
from rich.traceback import Traceback
assert "markdown_it" not in sys.modules
m = Markdown("# Title")
assert isinstance(m, Markdown) and type(sys.modules["rich.markdown"]).__name__ == "module"
Console(width=40).print(m)
try:
    1 / 0
except ZeroDivisionError as e:
    assert isinstance(Traceback.from_exception(type(e), e, e.__traceback__), Traceback)
from pydantic import BaseModel
class A(BaseModel):
    x: int
print("loader" if "importlib.metadata" in sys.modules else "no loader", A(x=1).x)
"""


@pytest.mark.parametrize(("disabled", "loader"), [("1", "no loader"), ("0", "loader")])
def test_stand_ins_become_the_real_modules_on_first_use(disabled: str, loader: str) -> None:
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": disabled}
    r = subprocess.run([sys.executable, "-c", STAND_INS], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Title" in r.stdout and r.stdout.rstrip().endswith(f"{loader} 1")


def test_a_group_builds_only_the_command_that_runs_and_lists_all_as_typer_does(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("NO_COLOR", "1")
    lazy = typer.main.get_command(app)
    for name, (target, _) in COMMANDS.items():
        sub = importlib.import_module(target.partition(":")[0]).__dict__[target.partition(":")[2]]
        if not isinstance(sub, typer.Typer):
            continue
        holder = typer.Typer()
        holder.add_typer(sub, name=name)
        eager = typer.main.get_group(holder).commands[name]
        group = lazy.commands[name]  # type: ignore[attr-defined]
        assert list(group.commands.built) == [n for n, c in eager.commands.items() if hasattr(c, "commands")]
        assert list(group.commands) == list(eager.commands), name
        first = next(n for n in eager.commands if not hasattr(eager.commands[n], "commands"))
        assert [p.name for p in group.commands[first].params] == [p.name for p in eager.commands[first].params]
        assert first in group.commands.built
    from slipway.cli.models import app as models

    holder = typer.Typer()
    holder.add_typer(models, name="models")
    helps = []
    for group in (lazy.commands["models"], typer.main.get_group(holder).commands["models"]):  # type: ignore[attr-defined]
        with pytest.raises(SystemExit):
            group.main(["--help"], prog_name="slipway models")
        helps.append(capsys.readouterr().out)
    assert "versions" in helps[0] and helps[0] == helps[1]
