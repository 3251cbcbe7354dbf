"""Rendering for the CLI: Rich tables for people, `--output json` for scripts."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

# rich.console, rich.table and rich.progress are imported where used, and pydantic not at all: `slipway --help`
# and `--output json` start without them (see "CLI start-up" in docs/developing.md).

__all__ = ["Output", "OutputOpt", "ago", "console", "emit", "err_console", "human_size", "keeps_running",
           "progress_bar", "table"]


class _LazyConsole:
    """A Rich Console made, and rich.console imported (a sixth of a short command), on first use: a command
    printing `--output json` never makes one. Everything is the Console's: attributes, methods, `with`."""

    __slots__ = ("_console", "_options")

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)

    def _real(self) -> Console:
        if self._console is None:
            from rich.console import Console

            object.__setattr__(self, "_console", Console(**self._options))
        return self._console  # type: ignore[return-value]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._real(), name, value)

    def __enter__(self) -> Console:
        return self._real().__enter__()

    def __exit__(self, *exc: Any) -> None:
        self._real().__exit__(*exc)


# no :name: codes in tables of user data, and no emoji table to import
console = cast("Console", _LazyConsole(emoji=False))
err_console = cast("Console", _LazyConsole(stderr=True, emoji=False))
SHORT = 12  # a column whose longest cell is this short keeps its width when a table is too wide
MIN_LONG = 4  # the least a long column is given ("can…")


class Output(str, Enum):
    table = "table"
    json = "json"


OutputOpt = typer.Option(Output.table, "--output", "-o", help="table for people, json for scripts.")


def to_jsonable(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):  # a pydantic model (not imported here: see the note on imports)
        return obj.model_dump(mode="json", by_alias=True)
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(o) for o in obj]
    if isinstance(obj, Mapping):  # a dict, or a record of the SDK's plain reads (slipway.sdk.plain)
        return {k: to_jsonable(v) for k, v in obj.items()}
    return obj


def emit(obj: Any, output: Output, render: Callable[[], None]) -> None:
    if output == Output.json:
        sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, default=str) + "\n")
    else:
        render()


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A table that fits the terminal (80 columns when piped): cells wrap between whole words, and a word
    too long for its column is cut with an ellipsis, never folded mid-word (no `Complet/ed`)."""
    from rich.table import Table

    cells = [["" if v is None else str(v) for v in r] for r in rows]
    t = Table(title=title, title_justify="left", header_style="bold")
    for c, width in zip(columns, _widths(columns, cells, console.width)):
        t.add_column(c, overflow="ellipsis", width=width)
    for r in cells:
        t.add_row(*r)
    console.print(t)


def _widths(columns: Sequence[str], cells: list[list[str]], total: int) -> list[int | None]:
    """Column widths for a table ``total`` characters wide: None (natural) when it fits; otherwise short
    columns (status, counts, times) keep their width and the long ones (names, URLs) share the rest: one that
    needs less than an even share keeps its natural width (a name stays whole beside a long description)."""
    natural = [max([len(c)] + [len(r[i]) for r in cells if i < len(r)]) for i, c in enumerate(columns)]
    room = total - (3 * len(columns) + 1)  # borders and padding
    if sum(natural) <= room:
        return [None] * len(columns)
    short = [n <= SHORT for n in natural]
    rest = room - sum(n for n, s in zip(natural, short) if s)
    if rest < MIN_LONG * short.count(False):
        return [None] * len(columns)  # too narrow to keep anything whole: let Rich squeeze them all
    widths: list[int | None] = [n if s else None for n, s in zip(natural, short)]
    pending = sorted((n, i) for i, (n, s) in enumerate(zip(natural, short)) if not s)
    while pending:
        n, i = pending.pop(0)
        share = rest // (len(pending) + 1)
        widths[i] = max(MIN_LONG, min(n, share))
        rest -= widths[i]
    return widths


@contextmanager
def keeps_running(message: str) -> Iterator[None]:
    """Ctrl-C while a command waits on the server: say what keeps running there and how to see or stop it
    (``message``), then exit 130. Without it Typer exits 130 without a word."""
    try:
        yield
    except KeyboardInterrupt:
        err_console.print(f"\nInterrupted: {message}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(130) from None


def human_size(n: int | None) -> str:
    if n is None:
        return ""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def ago(when: dt.datetime | str | None) -> str:
    """How long ago ``when`` was: a datetime, or an ISO 8601 time as the server sends it (slipway.sdk.plain)."""
    if not when:
        return ""
    if isinstance(when, str):
        when = dt.datetime.fromisoformat(when)
    secs = (dt.datetime.now(dt.UTC) - when).total_seconds()
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{int(secs // n)}{unit} ago"
    return f"{int(max(secs, 0))}s ago"


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A Rich transfer bar on stderr; yields the callback that advances it."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
        TimeRemainingColumn(), console=err_console, transient=True,
    ) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)
