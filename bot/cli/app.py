"""The Typer applications that every command module registers itself on, and how commands fail.

Command modules import heavy stacks (torch, SQLAlchemy, discord.py) inside their functions so that
`glyphbot --help` and light commands start fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, get_args

import typer
import typer.core

_METAVARS: dict[type, str] = {str: "TEXT", int: "N", float: "NUMBER", bool: "BOOLEAN", dt.datetime: "DATETIME"}


def conventional_metavar(param: typer.core._TyperParameter, ctx: object) -> str | None:
    """What a parameter takes, as help screens conventionally say it: TEXT, N, NUMBER, PATH, FILE, DIR or
    [a|b]; nothing for a flag. Typer 0.29 prints Python annotations instead (`<str>`, `<list[Path]>`)."""
    if getattr(param, "is_flag", False):
        return None
    described = param.type_descriptor
    if described.is_choice:
        return "[" + "|".join(str(getattr(choice, "value", choice)) for choice in described.choices or ()) + "]"
    taken = get_args(described.annotation)[0] if described.is_list else described.annotation
    if described.is_path or (isinstance(taken, type) and issubclass(taken, Path)):
        return described.path_type.upper()
    return _METAVARS.get(taken, getattr(taken, "__name__", str(taken)).upper())


# Every option and argument of every command, including those typer builds later, shows these.
typer.core._TyperParameter.display_type = conventional_metavar  # type: ignore[method-assign]

app = typer.Typer(help="glyphbot: images that contain the text you write.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print figures beside a baseline measured in the same run.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")

# Exit statuses: 1 when something at run time went wrong (database, remote service), 2 when the
# command cannot run as asked (bad option, missing checkpoint), as shells and CI expect.
RUNTIME_ERROR = 1
USAGE_ERROR = 2


def fail(message: str, code: int = RUNTIME_ERROR) -> NoReturn:
    """One red line on stderr and the exit status: an expected error deserves a sentence, not a traceback."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def reported_errors(*also: type[Exception], code: int = RUNTIME_ERROR) -> Iterator[None]:
    """Report bad settings, storage errors and the listed kinds with `fail` instead of a traceback."""
    from config.settings import SettingsError
    from storage.errors import StorageError

    try:
        yield
    except (SettingsError, StorageError, *also) as error:
        fail(str(error), code)


def no_such_file(path: Path | str) -> str:
    """The one line every command gives for a file it was told to read that does not exist."""
    return f"{path}: no such file"


def existing_file(path: Path | None) -> Path | None:
    """Option callback for an input file: a missing one is the usual one-line runtime error (exit 1),
    the same as a corrupt one, rather than click's usage box."""
    if path is not None and not path.exists():
        fail(no_such_file(path))
    return path


def picture_file(path: Path | None, option: str) -> bytes | None:
    """The bytes of the picture file an option names, read through the picture gate's bounded reader:
    a directory, FIFO or device, or a file over the byte cap, is one line (exit 1), never a read of
    /dev/zero until memory runs out."""
    if path is None:
        return None
    from storage.picture_gate import PictureRefused, read_picture_file

    try:
        return read_picture_file(path, f"{option} {path}")
    except PictureRefused as error:
        fail(str(error))
