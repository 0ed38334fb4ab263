"""The long-running loop `glyphbot serve` starts: take drafts, advance posts, sleep until something is due."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import pytumblr
from sqlalchemy import func, select

from bot.tumblr.autoresponder import TumblrAutoresponder
from bot.tumblr.client import TumblrApi, TumblrError, client_from_settings
from bot.tumblr.models import OPEN_STATUSES, TumblrPostRow
from config.settings import TumblrSettings
from generation.types import RenderRequest
from storage.async_api import AsyncJobs
from storage.errors import DatabaseUnavailable, StyleNotFound
from storage.styles import find_style

log = logging.getLogger(__name__)
MIN_SLEEP_S = 0.5


def _next_due(responder: TumblrAutoresponder) -> dt.datetime | None:
    with responder.db.read() as session:
        return session.scalar(select(func.min(TumblrPostRow.retry_at)).where(TumblrPostRow.status.in_(OPEN_STATUSES)))


async def run_tumblr_autoresponder(settings: TumblrSettings, jobs: AsyncJobs, *,
                                   client: pytumblr.TumblrRestClient | None = None,
                                   stop: asyncio.Event | None = None, defaults: RenderRequest | None = None) -> None:
    """Run until `stop` is set: every `poll_interval_s` read the drafts, and advance every post that is due.

    A `tumblr.style` that does not exist (or was deleted) raises ValueError at once, naming it.
    Uses the job queue's database for the adapter's own tables (`bot.tumblr.models`, migrated with
    storage's Alembic migrations). Credentials come from the settings' secrets (environment or
    credentials_file) unless a `client` is given. Each image's request starts from `defaults` (`[generation]`'s;
    None: the shipped ones). A Tumblr or database outage is logged and retried on the next round;
    it never ends the loop, since every post's progress is in the database.
    """
    if not settings.blog:
        raise ValueError("set tumblr.blog to the blog the autoresponder posts to")
    if settings.style:
        # Once at start: an unknown style would otherwise hold every post, one by one, for the same reason.
        try:
            await asyncio.to_thread(find_style, jobs.queue.db, settings.style)
        except StyleNotFound as error:
            raise ValueError(f"tumblr.style: {error}") from None
    api = TumblrApi(client or client_from_settings(settings), settings.blog)
    responder = TumblrAutoresponder(jobs.queue.db, jobs, api, settings, defaults=defaults)
    stop = stop or asyncio.Event()
    next_intake = responder.clock()
    while not stop.is_set():
        now = responder.clock()
        try:
            if now >= next_intake:
                next_intake = now + dt.timedelta(seconds=settings.poll_interval_s)
                try:
                    new = await responder.ingest_drafts()
                except TumblrError as error:  # posts already taken still move on
                    log.warning("cannot read the Tumblr drafts, trying again next round: %s", error)
                    new = []
                if new:
                    log.info("took %d new Tumblr drafts", len(new))
            await responder.run_once()
            due = await asyncio.to_thread(_next_due, responder)
        except (TumblrError, DatabaseUnavailable) as error:
            log.warning("tumblr autoresponder round failed, retrying: %s", error)
            due = None
        except Exception:  # noqa: BLE001  the loop outlives surprises; every post's state is in the database
            log.exception("tumblr autoresponder round failed unexpectedly, retrying")
            due = None
        wake = min(next_intake, due) if due is not None else next_intake
        delay = max(MIN_SLEEP_S, (wake - responder.clock()).total_seconds())
        try:
            await asyncio.wait_for(stop.wait(), timeout=delay)
        except TimeoutError:
            pass
