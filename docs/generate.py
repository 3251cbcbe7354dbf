"""Regenerate docs/cli.md (from --help) and the settings table in docs/configuration.md.

    .venv/bin/python docs/generate.py
Tests fail when a command or setting is missing from the docs, so run this after adding one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import typer.main
from typer.testing import CliRunner

from slipway.cli.main import app
from slipway.settings import SETTINGS_DOC

DOCS = Path(__file__).resolve().parent


def iter_commands(group: click.Command, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out = [(path, group)]
    commands = getattr(group, "commands", {})
    for name in sorted(commands):
        out += iter_commands(commands[name], [*path, name])
    return out


def cli_reference() -> str:
    os.environ["COLUMNS"] = "100"
    root = typer.main.get_command(app)
    parts = ["# CLI reference\n", "Generated from `--help` by `docs/generate.py`; do not edit by hand.\n"]
    for path, cmd in iter_commands(root, ["slipway"]):
        result = CliRunner().invoke(app, [*path[1:], "--help"], env={"COLUMNS": "100", "NO_COLOR": "1"})
        text = result.output
        text = re.sub(r"[ \t]+\n", "\n", text)
        parts.append(f"## `{' '.join(path)}`\n\n```\n{text.strip()}\n```\n")
    return "\n".join(parts)


def settings_table() -> str:
    rows = ["| setting | env | type | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, (kind, default, meaning) in SETTINGS_DOC.items():
        rows.append(f"| `{name}` | `SLIPWAY_{name.upper()}` | {kind} | `{default}` | {meaning} |")
    return "\n".join(rows)


def main() -> None:
    (DOCS / "cli.md").write_text(cli_reference())
    conf = DOCS / "configuration.md"
    text = conf.read_text()
    start, end = "<!-- settings:start -->", "<!-- settings:end -->"
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    conf.write_text(f"{before}{start}\n{settings_table()}\n{end}{after}")


if __name__ == "__main__":
    main()
