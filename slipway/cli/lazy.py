"""A command group that imports a sub-command's module only when that sub-command is used.

`slipway --help` lists every command from a static table (name, "module:attribute", the line shown in
the help) without importing any of them; `slipway jobs list` imports `slipway.cli.jobs` and builds the
`jobs` group alone, not the 17 groups and 90 commands of the whole CLI, and of that group only the `list`
command (see "CLI start-up" in docs/developing.md). Anything that asks for a command by name or walks `group.commands` (running,
completion, "did you mean", docs/generate.py) gets the real one, built on first use.
"""

from __future__ import annotations

import copy
import importlib
import os
import re
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    import click as _click  # typer's own copy of click (typer._click) from typer 0.2x: the same classes

__all__ = ["LazyGroup", "defer_imports"]


class _Commands(MutableMapping[str, Any]):
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


class _SubCommands(MutableMapping[str, Any]):
    """``group.commands`` of a sub-group (``slipway jobs``): its commands in the order typer gives them, each
    built by typer on first read (a group with a dozen commands took a twentieth of a command's start-up to build
    whole); its own sub-groups are built already."""

    def __init__(self, built: Mapping[str, _click.Command], infos: list[Any], holder: typer.Typer) -> None:
        self.built = dict(built)
        self._holder = holder
        self._infos: dict[str, Any] = {}
        for info in infos:  # a later command of the same name replaces an earlier one, as in typer
            self._infos[info.name or typer.main.get_command_name(info.callback.__name__)] = info

    def __getitem__(self, name: str) -> _click.Command:
        if name not in self.built:
            if name not in self._infos:
                raise KeyError(name)
            command = typer.main.get_command_from_info(
                self._infos[name], pretty_exceptions_short=self._holder.pretty_exceptions_short,
                rich_markup_mode=self._holder.rich_markup_mode)
            _pass_plain_values_of(command)
            self.built[name] = command
        return self.built[name]

    def __setitem__(self, name: str, command: _click.Command) -> None:
        self.built[name] = command

    def __delitem__(self, name: str) -> None:
        self._infos.pop(name, None)
        del self.built[name]

    def __contains__(self, name: object) -> bool:
        return name in self.built or name in self._infos

    def __iter__(self) -> Iterator[str]:
        yield from self._infos
        yield from (n for n in self.built if n not in self._infos)

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
            shell = copy.copy(target)  # the group without its commands: each is built when it is asked for
            shell.registered_commands = []
            holder.add_typer(shell, name=name)
        else:
            holder.command(name)(target)
        command = typer.main.get_group(holder).commands[name]
        if isinstance(target, typer.Typer):
            command.commands = _SubCommands(command.commands, target.registered_commands, holder)  # type: ignore[attr-defined]
        _pass_plain_values_of(command)
        return command

    def get_params(self, ctx: _click.Context) -> list[_click.Parameter]:
        params = super().get_params(ctx)
        _pass_plain_values(params)
        return params

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


def _pass_plain_values(params: list[Any]) -> None:
    """typer 0.2x checks each parameter's value with a pydantic TypeAdapter, built on first use even for None, so
    an option like --output alone would import pydantic (a fifth of `slipway jobs list`) for a value the command
    line gives as a plain str. Give each parameter not yet checked a checker that answers the plain cases itself
    as typer would (no value; a str for a str; a bool for a bool; a whole number for an int; one of an enum's or
    a Literal's choices) and hands anything else (a mistake, a path, a range, a list, a custom parser) to the
    checker typer builds, so that its messages stay typer's own. Typers without this machinery are left as they
    are."""
    try:
        from typer._coercion import RuntimeParam
    except ImportError:
        return
    plain = _plain_runtime_param_class(RuntimeParam)
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is not None and getattr(param, "_runtime_param", 0) is None:
            param._runtime_param = plain(parameter_info=descriptor.parameter_info, annotation=descriptor.annotation,
                                         descriptor=descriptor)


def _pass_plain_values_of(command: _click.Command) -> None:
    """_pass_plain_values for the parameters of a command (its --help too, made anew by each get_params) and, for
    a group, of every command under it."""
    get_params = command.get_params

    def get_plain_params(ctx: _click.Context) -> list[_click.Parameter]:
        params = get_params(ctx)
        _pass_plain_values(params)
        return params

    command.get_params = get_plain_params  # type: ignore[method-assign]
    commands = getattr(command, "commands", {})
    for sub in (commands.built if isinstance(commands, _SubCommands) else commands).values():
        _pass_plain_values_of(sub)  # (a lazy sub-group's other commands get it when they are built)


_PLAIN_CLASS: list[type] = []
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


def _plain_runtime_param_class(base: type) -> type:
    if _PLAIN_CLASS:
        return _PLAIN_CLASS[0]
    from dataclasses import dataclass, field

    from typer._coercion import build_runtime_param
    from typer._param_types import coerce_cli_choice

    @dataclass(frozen=True)
    class PlainFirstRuntimeParam(base):  # type: ignore[valid-type,misc]
        descriptor: Any = None
        _typer: list[Any] = field(default_factory=list, compare=False, repr=False)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            d = self.descriptor
            plain = not (d.parameter_info.parser is not None or d.is_list or d.is_tuple or d.is_file or d.is_path
                         or d.is_datetime or d.is_ranged)
            annotation = d.annotation
            if plain and annotation in (str, bool) and isinstance(value, annotation):
                return value
            if plain and annotation is int and isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
                return int(value)
            if plain and annotation is int and type(value) is int:
                return value
            if plain and d.is_choice:
                try:
                    return coerce_cli_choice(value, choices=d.choices, case_sensitive=d.case_sensitive, ctx=ctx)
                except ValueError:
                    pass  # typer's checker says what is wrong
            if not self._typer:
                self._typer.append(build_runtime_param(d))
            return self._typer[0]._coerce_value(value, param=param, ctx=ctx)

    _PLAIN_CLASS.append(PlainFirstRuntimeParam)
    return PlainFirstRuntimeParam


# Stand-ins for modules that libraries import at their top but this CLI seldom or never uses: defer_imports()
# puts them in sys.modules; the first real use of one (a call, an attribute, isinstance) imports the real module,
# which then takes its place in sys.modules.
# - typer.rich_utils, which renders every --help and usage error, imports rich.markdown (markdown-it-py) and
#   rich.traceback (pygments, attrs): about half of `slipway --help`, for rich_markup_mode="markdown" and pretty
#   exceptions, which this CLI does not use (markup "rich", pretty_exceptions_enable=False).
# - pydantic imports pydantic.plugin._loader (and with it importlib.metadata, a tenth of `slipway jobs list`)
#   when it builds the first model, to look for plugins; with PYDANTIC_DISABLE_PLUGINS set (the CLI's client
#   sets it, see slipway.cli.state) it finds none without reading anything.
DEFERRED_RICH_MODULES = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}
PYDANTIC_PLUGIN_LOADER = "pydantic.plugin._loader"


class _DeferredModule(ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real_module(self.__name__), name)


def _real_module(name: str) -> ModuleType:
    if isinstance(sys.modules.get(name), _DeferredModule):
        del sys.modules[name]
    return importlib.import_module(name)


class _StandIn(type):
    """The metaclass of a stand-in: a class whose real self is imported on first use."""

    def _real(cls) -> Any:
        return getattr(_real_module(cls.__module__), cls.__name__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls._real(), name)

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._real())


def _pydantic_plugins() -> Any:
    """pydantic's get_plugins(): none when disabled (as pydantic answers), else the real loader's answer."""
    if os.environ.get("PYDANTIC_DISABLE_PLUGINS") in ("__all__", "1", "true"):
        return ()
    return _real_module(PYDANTIC_PLUGIN_LOADER).get_plugins()


def defer_imports() -> None:
    """Install the stand-ins (see above), unless a module is imported already."""
    import rich

    for name, attributes in DEFERRED_RICH_MODULES.items():
        if name in sys.modules:
            continue
        module = _DeferredModule(name)
        for attribute in attributes:
            setattr(module, attribute, _StandIn(attribute, (), {"__module__": name}))
        sys.modules[name] = module
        setattr(rich, name.rpartition(".")[2], module)
    if PYDANTIC_PLUGIN_LOADER not in sys.modules:
        loader = _DeferredModule(PYDANTIC_PLUGIN_LOADER)
        loader.get_plugins = _pydantic_plugins  # type: ignore[attr-defined]
        sys.modules[PYDANTIC_PLUGIN_LOADER] = loader
