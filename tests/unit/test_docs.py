"""Docs move with the code: every CLI command is in docs/cli.md (run docs/generate.py)."""

from __future__ import annotations

from pathlib import Path

import typer.main

from slipway.cli.main import app

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _paths(cmd: object, path: list[str]) -> list[str]:
    out = [" ".join(path)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        out += _paths(sub, [*path, name])
    return out


def test_every_command_is_in_the_cli_reference() -> None:
    text = (DOCS / "cli.md").read_text()
    missing = [p for p in _paths(typer.main.get_command(app), ["slipway"]) if f"## `{p}`" not in text]
    assert missing == [], f"run `.venv/bin/python docs/generate.py`; missing: {missing}"


def test_every_command_has_json_output() -> None:
    root = typer.main.get_command(app)
    lacking = []
    for path in _paths(root, ["slipway"]):
        cmd = root
        for part in path.split()[1:]:
            cmd = cmd.commands[part]  # type: ignore[attr-defined]
        if hasattr(cmd, "commands") or path in ("slipway up",):
            continue
        if not any("--output" in p.opts for p in cmd.params):
            lacking.append(path)
    assert lacking == []
