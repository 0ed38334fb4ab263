"""Help screens show conventional metavars (TEXT, N, PATH, choices) and none for flags, on every command."""

from __future__ import annotations

import re

import typer
from typer.testing import CliRunner

from bot.cli import app

TYPE_LABEL = re.compile(r"<[a-zA-Z_\[\]|, ]+>")


def _commands(command: typer.core.TyperCommand, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], typer.core.TyperCommand]]:
    """Every command with its path; groups have `commands` (typer builds them with its own copy of click)."""
    children = getattr(command, "commands", {})
    return [(path, command)] + [found for name, child in children.items() for found in _commands(child, (*path, name))]


def _help(*path: str) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=200, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_no_parameter_of_any_command_shows_a_python_type_label() -> None:
    """What each help screen puts in its type column, for every parameter, without rendering 30 screens."""
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert len(commands) > 20
    with typer.Context(root) as ctx:
        shown = {(" ".join(path), param.name): param.display_type_rich(ctx=ctx) for path, command in commands for param in command.params}
    assert {where: label for where, label in shown.items() if label and TYPE_LABEL.search(label)} == {}
    assert shown[("read", "as_json")] is None and shown[("jobs submit", "text")] == "TEXT"


def test_options_show_what_they_take() -> None:
    submit = _help("jobs", "submit")
    assert re.search(r"--negative\s+TEXT", submit) and re.search(r"--steps\s+N", submit)
    assert re.search(r"--image\s+FILE", submit) and re.search(r"--out\s+PATH", submit)
    assert re.search(r"--wait\s+Wait for the job", submit)  # a flag takes nothing
    assert re.search(r"images\.\.\.\s+PATH", _help("read"))
    assert re.search(r"--status\s+\[queued\|running", _help("jobs", "list"))
