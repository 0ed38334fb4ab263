"""Entry point of the `glyphbot` console script: importing each command module registers its commands."""

from bot.cli.app import app

# One import per command module; each registers its commands on `app` or `bench_app`.
from bot.cli import generation_commands  # noqa: F401,E402  imagine, train, bench sample
from bot.cli import jobs_commands  # noqa: F401,E402  jobs, worker, serve, db, bench queue
from bot.cli import discord_commands  # noqa: F401,E402  discord
from bot.cli import tumblr_commands  # noqa: F401,E402  tumblr submit, status, run
from bot.cli import ocr_commands  # noqa: F401,E402  read, bench ocr, bench ocr-validate
from bot.cli import http_commands  # noqa: F401,E402  apikey, moderator


def main() -> None:
    app()
