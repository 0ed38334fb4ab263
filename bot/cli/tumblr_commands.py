"""Tumblr commands: `tumblr submit` (posts from files), `tumblr status` (what waits and why), `tumblr run`.

`submit` only records posts; the autoresponder (`glyphbot tumblr run`, or `glyphbot serve`)
draws their images and publishes them, so a file can be submitted while the bot is down.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from bot.cli.app import app, fail, no_such_file

tumblr_app = typer.Typer(help="The Tumblr autoresponder: submit posts, see what waits and why, run it.",
                         no_args_is_help=True)
app.add_typer(tumblr_app, name="tumblr")


@tumblr_app.command("submit")
def submit(
    files: Annotated[list[Path], typer.Argument(help="Text files (or folders of *.txt), one post each, with ======= image blocks.")],
    state: Annotated[str, typer.Option(help="published, queue or draft (default: tumblr.default_state).")] = "",
    tag: Annotated[Optional[list[str]], typer.Option(help="A tag for the posts; repeat for more.")] = None,
) -> None:
    """Record posts for the autoresponder. The same file with the same text is taken once."""
    from bot.tumblr.autoresponder import record_post
    from bot.tumblr.content import text_to_blocks
    from config.settings import SettingsError, load_settings
    from storage.errors import StorageError
    from storage.facade import open_storage

    try:
        settings = load_settings()
        if not settings.tumblr.blog:
            fail("set tumblr.blog (GLYPHBOT_TUMBLR__BLOG) first")
        storage = open_storage(settings)
        paths = [p for f in files for p in (sorted(f.glob("*.txt")) if f.is_dir() else [f])]
        unreadable = 0
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:  # said, and the other files still go in
                reason = no_such_file(path) if isinstance(error, FileNotFoundError) else f"cannot read {path}: {error}"
                typer.secho(f"error: {reason}", fg=typer.colors.RED, err=True)
                unreadable += 1
                continue
            # Same file name and same text: the same post. The name is cut so the key stays short.
            key = f"local:{path.name[:80]}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
            row_id = record_post(storage.db, settings.tumblr, settings.tumblr.blog, key, text_to_blocks(text),
                                 list(tag or []), state or settings.tumblr.default_state)
            typer.echo(f"{path}: " + (f"recorded as post {row_id}" if row_id else "already submitted, skipped"))
    except (SettingsError, StorageError, ValueError) as error:
        fail(str(error))
    if unreadable:
        raise typer.Exit(1)


@tumblr_app.command("status")
def status(
    every: Annotated[bool, typer.Option("--all", help="Also list published posts.")] = False,
    limit: Annotated[int, typer.Option(min=1, help="Most posts to list, newest first.")] = 50,
) -> None:
    """Posts that wait (and until when, and why) or were held for a moderator."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import select

    from bot.tumblr.models import TumblrPostRow
    from config.settings import SettingsError
    from storage.errors import StorageError
    from storage.facade import open_storage

    try:
        storage = open_storage()
        with storage.db.read() as session:
            query = select(TumblrPostRow).order_by(TumblrPostRow.id.desc()).limit(limit)
            if not every:
                query = query.where(TumblrPostRow.status != "published")
            rows = list(session.scalars(query))
    except (SettingsError, StorageError) as error:
        fail(str(error))
    table = Table("id", "post", "status", "target", "retry at", "why")
    for row in rows:
        why = row.held_reason if row.status == "held" else (row.reason or row.held_reason or "")
        retry = row.retry_at.strftime("%Y-%m-%d %H:%M:%S") if row.retry_at else ""
        shown = "held, saving to drafts" if row.held_reason and row.status != "held" else row.status
        table.add_row(str(row.id), row.post_key, shown, row.target_state, retry, why)
    Console().print(table)


@tumblr_app.command("run")
def run() -> None:
    """Run the autoresponder in the foreground until Ctrl-C (a worker must be running somewhere)."""
    import asyncio
    import logging

    from bot.tumblr import run_tumblr_autoresponder
    from bot.tumblr.client import TumblrCredentialsMissing
    from config.settings import SettingsError, load_settings
    from generation.request_options import configured
    from storage.errors import StorageError
    from storage.facade import open_storage

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        storage = open_storage(settings)
        defaults = configured(settings.generation.model_dump())
        asyncio.run(run_tumblr_autoresponder(settings.tumblr, storage.async_jobs(), defaults=defaults))
    except (SettingsError, StorageError, TumblrCredentialsMissing, ValueError) as error:
        fail(str(error))
    except KeyboardInterrupt:
        typer.echo("stopped")


@tumblr_app.command("read")
def read(
    limit: Annotated[int, typer.Option(min=1, help="How many posts.")] = 10,
    source: Annotated[str, typer.Option(help="dashboard, or submissions (where asks arrive).")] = "dashboard",
) -> None:
    """Print the newest posts as the bot sees them: every image as its OCR transcript."""
    import asyncio

    from bot.tumblr.client import TumblrApi, TumblrCredentialsMissing, TumblrError, client_from_settings
    from bot.tumblr.reading import PostReader, read_posts, tesseract_reader
    from config.settings import SettingsError, load_settings
    from storage.errors import StorageError
    from storage.facade import open_storage

    try:
        settings = load_settings()
        storage = open_storage(settings)
        api = TumblrApi(client_from_settings(settings.tumblr), settings.tumblr.blog)
        posts = asyncio.run(read_posts(api, PostReader(storage.db, tesseract_reader()), source, limit))
    except (SettingsError, StorageError, TumblrCredentialsMissing, TumblrError, ValueError) as error:
        fail(str(error))
    for post_id, text in posts:
        typer.secho(f"--- post {post_id}", bold=True)
        typer.echo(text)
