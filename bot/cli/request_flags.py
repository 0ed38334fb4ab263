"""The render options' command-line flags, made from the request spine (generation.request_options).

`imagine` and `jobs submit` list none of them by hand: `@request_flags(...)` adds the spine's flag,
help and choices for each option named, and hands the command what the user typed as one mapping,
`given` (None: left out, so `[generation]`'s default or RenderRequest's applies). A value that is not
one of an option's choices is one line and exit 2 before the command runs. A new
option in the spine is a new flag here without touching the commands.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import typer

from bot.cli.app import USAGE_ERROR, fail
from generation.request_options import OPTIONS, RenderOption, option
from generation.request_parsers import unescape_newlines

Command = TypeVar("Command", bound=Callable[..., Any])
# Every option that has a flag, in the spine's order: what `jobs submit` offers.
ALL = tuple(declared.name for declared in OPTIONS if declared.cli)


def _flag(declared: RenderOption) -> tuple[Any, Any]:
    """The annotation and typer.Option of one option's flag; the default shown is the spine's.

    A flag with choices takes any text (its help names the choices): the spine's own check
    (RenderOption.problem) refuses a wrong one with one line, where click's choice type printed a
    usage box."""
    shown = "from [generation]" if declared.setting else (False if declared.default in (None, "") else str(declared.default))
    return Optional[declared.type], typer.Option(None, declared.cli, help=declared.help, show_default=shown)


def _typed(declared: RenderOption, value: Any) -> Any:
    """A flag's value as the request takes it: `\\n` in text as a line break."""
    return unescape_newlines(value) if declared.lines and value is not None else value


def request_flags(*names: str) -> Callable[[Command], Command]:
    """Give a command one flag per option in `names`; it receives them as `given` (name -> value or None)."""
    declared = [option(name) for name in names]

    def add(command: Command) -> Command:
        signature = inspect.signature(command, eval_str=True)
        kept = [parameter for parameter in signature.parameters.values() if parameter.name != "given"]
        flags = {entry.name: _flag(entry) for entry in declared}
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=flag, annotation=kind)
                 for name, (kind, flag) in flags.items()]

        @functools.wraps(command)
        def run(**values: Any) -> Any:
            given = {entry.name: _typed(entry, values.pop(entry.name)) for entry in declared}
            for entry in declared:  # ranges are checked with the configured limits, further on
                problem = entry.problem(given[entry.name]) if entry.choices and given[entry.name] is not None else None
                if problem:
                    fail(problem, USAGE_ERROR)
            return command(given=given, **values)

        run.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        run.__annotations__ = {name: kind for name, kind in command.__annotations__.items() if name != "given"}
        run.__annotations__.update({name: kind for name, (kind, _) in flags.items()})
        return run  # type: ignore[return-value]

    return add
