"""A command group that imports a sub-command's module only when that sub-command is used.

`slipway --help` lists every command from a static table (name, "module:attribute", the line shown in
the help) without importing any of them; `slipway jobs list` imports `slipway.cli.jobs` and builds the
`jobs` group alone, not the 17 groups and 90 commands of the whole CLI (see "CLI start-up" in
docs/developing.md). Anything that asks for a command by name or walks `group.commands` (running,
completion, "did you mean", docs/generate.py) gets the real one, built on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, ClassVar

import typer
from typer import _click
from typer.core import TyperCommand, TyperGroup

__all__ = ["LazyGroup"]


class _Commands(MutableMapping[str, _click.Command]):
    """``group.commands``: the table's names (in its order) then any added directly, each built on first read."""

    def __init__(self, group: LazyGroup, built: Mapping[str, _click.Command]) -> None:
        self._group = group
        self.built = dict(built)

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self.built:
            if name not in self._group.lazy_commands:
                raise KeyError(name)
            self.built[name] = self._group.build(name)
        return self.built[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        del self.built[name]

    def __contains__(self, name: object) -> bool:
        return name in self.built or name in self._group.lazy_commands

    def __iter__(self) -> Iterator[str]:
        yield from self._group.lazy_commands
        yield from (n for n in self.built if n not in self._group.lazy_commands)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class LazyGroup(TyperGroup):
    """A Typer group whose sub-commands come from ``lazy_commands``: name -> ("module:attribute", short help).

    The attribute is a ``typer.Typer`` (a sub-group) or a command function; the short help is the first
    paragraph of its help, shown by this group's help without importing the module (a unit test checks
    that it matches). Subclass it with the table and pass the subclass as ``typer.Typer(cls=...)``.
    """

    lazy_commands: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self, self.commands)
        self._summaries = False

    def build(self, name: str) -> _click.Command:
        """Import the module of ``name`` and build its click command, as `app.add_typer`/`app.command` would."""
        module, _, attribute = self.lazy_commands[name][0].partition(":")
        target = getattr(importlib.import_module(module), attribute)
        holder = typer.Typer(rich_markup_mode=self.rich_markup_mode, suggest_commands=self.suggest_commands)
        if isinstance(target, typer.Typer):
            holder.add_typer(target, name=name)
        else:
            holder.command(name)(target)
        return typer.main.get_group(holder).commands[name]

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return list(self.commands)  # names only: building each is for get_command

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if self._summaries and cmd_name not in self.commands.built and cmd_name in self.lazy_commands:  # type: ignore[attr-defined]
            return TyperCommand(cmd_name, help=self.lazy_commands[cmd_name][1])
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """This group's help lists its commands with the table's short help: nothing is imported or built."""
        self._summaries = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._summaries = False
