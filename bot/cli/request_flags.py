"""The render options' command-line flags, made from the request spine (generation.request_options).

`imagine` and `jobs submit` list none of them by hand: `@request_flags(...)` adds the spine's flag,
help and choices for each option named, and hands the command what the user typed as one mapping,
`given` (None: left out, so `[generation]`'s default or RenderRequest's applies). A new option in the
spine is a new flag here without touching the commands.
"""

from __future__ import annotations

import enum
import functools
import inspect
from collections.abc import Callable
from typing import Any, Optional, TypeVar

import typer

from generation.request_options import OPTIONS, RenderOption, option
from generation.request_parsers import unescape_newlines

Command = TypeVar("Command", bound=Callable[..., Any])
# Every option that has a flag, in the spine's order: what `jobs submit` offers.
ALL = tuple(declared.name for declared in OPTIONS if declared.cli)


def _choices(declared: RenderOption) -> type[enum.StrEnum]:
    return enum.StrEnum(f"{declared.name.title().replace('_', '')}Choice", {name: name for name in declared.choices})


def _flag(declared: RenderOption) -> tuple[Any, Any]:
    """The annotation and typer.Option of one option's flag; the default shown is the spine's."""
    kind = _choices(declared) if declared.choices else declared.type
    shown = "from [generation]" if declared.setting else (False if declared.default in (None, "") else str(declared.default))
    return Optional[kind], typer.Option(None, declared.cli, help=declared.help, show_default=shown)


def _typed(declared: RenderOption, value: Any) -> Any:
    """A flag's value as the request takes it: a choice as its text, `\\n` in text as a line break."""
    if isinstance(value, enum.Enum):
        return str(value)
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
            return command(given={entry.name: _typed(entry, values.pop(entry.name)) for entry in declared}, **values)

        run.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
        run.__annotations__ = {name: kind for name, kind in command.__annotations__.items() if name != "given"}
        run.__annotations__.update({name: kind for name, (kind, _) in flags.items()})
        return run  # type: ignore[return-value]

    return add
