"""Entry point of the `glyphbot` console script: importing each command module registers its commands."""

from bot.cli.app import app

# One import per command module; each registers its commands on `app` or `bench_app`.
from bot.cli import generation_commands  # noqa: F401,E402  imagine, tween, fonts, templates, train, preview-data
from bot.cli import jobs_commands  # noqa: F401,E402  jobs, worker, serve, db
from bot.cli import discord_commands  # noqa: F401,E402  discord
from bot.cli import tumblr_commands  # noqa: F401,E402  tumblr submit, status, run
from bot.cli import ocr_commands  # noqa: F401,E402  read
from bot.cli import http_commands  # noqa: F401,E402  apikey, moderator
from bot.cli import style_commands  # noqa: F401,E402  style list, delete, learn
from bot.cli import bench_commands  # noqa: F401,E402  every bench command: sample, data, queue, ocr, ocr-validate, text-accuracy, look, photo, cli


def main() -> None:
    """Run the CLI; a file that turns out to be missing deep inside a command is one line, not a traceback."""
    import sys

    import typer

    from bot.cli.app import RUNTIME_ERROR, no_such_file

    try:
        app()
    except FileNotFoundError as error:
        typer.secho(f"error: {no_such_file(error.filename) if error.filename else error}", fg=typer.colors.RED, err=True)
        sys.exit(RUNTIME_ERROR)
