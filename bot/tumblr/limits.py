"""When a waiting post may try again: Tumblr's daily limits, its queue cap, 429s and outages.

Daily limits are counted from our own records (posts we published today, images we uploaded today)
so the adapter waits *before* Tumblr refuses; Tumblr's own 403s and 429s remain the backstop, since
other clients may post on the same blog. Tumblr counts per calendar day on its servers' clock; we use
UTC midnight, and a refusal that still comes moves the post to the next day anyway.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.tumblr.client import TumblrError
from bot.tumblr.models import TumblrPostRow
from config.settings import TumblrSettings


def next_day(now: dt.datetime) -> dt.datetime:
    """The next UTC midnight, plus a minute so clocks that differ slightly agree the day has turned."""
    midnight = dt.datetime.combine(now.astimezone(dt.timezone.utc).date() + dt.timedelta(days=1), dt.time(),
                                   tzinfo=dt.timezone.utc)
    return midnight + dt.timedelta(minutes=1)


def backoff(settings: TumblrSettings, attempts: int) -> dt.timedelta:
    """Exponential backoff from `retry_backoff_s`, capped at `retry_backoff_max_s`."""
    seconds = settings.retry_backoff_s * 2 ** max(0, min(attempts - 1, 20))
    return dt.timedelta(seconds=min(seconds, settings.retry_backoff_max_s))


def _header_seconds(headers: dict[str, str], name: str) -> float | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None


def retry_at(error: TumblrError, now: dt.datetime, attempts: int, settings: TumblrSettings) -> dt.datetime:
    """When to try again after `error`: the next day for daily limits, the reset Tumblr names for 429s."""
    codes = set(error.codes)
    if error.status == 403 and codes & {8004, 8023}:
        return next_day(now)
    if error.status == 403 and 8022 in codes:
        return now + dt.timedelta(seconds=settings.queue_full_retry_s)
    if error.status == 429:
        waits = [_header_seconds(error.headers, "Retry-After")]
        for window in ("Perhour", "Perday"):
            if _header_seconds(error.headers, f"X-Ratelimit-{window}-Remaining") == 0:
                waits.append(_header_seconds(error.headers, f"X-Ratelimit-{window}-Reset"))
        known = [w for w in waits if w is not None]
        if known:
            return now + dt.timedelta(seconds=max(known))
    return now + backoff(settings, attempts)


def _today_start(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.astimezone(dt.timezone.utc).date(), dt.time(), tzinfo=dt.timezone.utc)


def posts_today(session: Session, now: dt.datetime) -> int:
    """Posts we published (state `published`) since UTC midnight: Tumblr's 250 posts/day."""
    query = select(func.count()).where(TumblrPostRow.published_at >= _today_start(now),
                                       TumblrPostRow.published_state == "published")
    return int(session.execute(query).scalar_one())


def uploads_today(session: Session, now: dt.datetime) -> int:
    """Images we uploaded since UTC midnight, in any post state: Tumblr's 250 uploads/day."""
    query = select(func.coalesce(func.sum(TumblrPostRow.image_count), 0)).where(
        TumblrPostRow.published_at >= _today_start(now))
    return int(session.execute(query).scalar_one())


def local_limit(session: Session, post: TumblrPostRow, queued_now: int | None, now: dt.datetime,
                settings: TumblrSettings) -> tuple[str, dt.datetime] | None:
    """(reason, retry time) when publishing `post` now would break a limit, else None.

    `queued_now` is the blog's queue size (asked only for posts headed to the queue).
    """
    if post.target_state == "published" and posts_today(session, now) >= settings.posts_per_day:
        return f"daily post limit reached ({settings.posts_per_day} posts/day); waiting for the next day", next_day(now)
    if post.image_count and uploads_today(session, now) + post.image_count > settings.uploads_per_day:
        return (f"daily image upload limit reached ({settings.uploads_per_day} uploads/day, this post has "
                f"{post.image_count}); waiting for the next day", next_day(now))
    if post.target_state == "queue" and queued_now is not None and queued_now >= settings.queue_limit:
        return (f"the blog's queue is full ({queued_now}/{settings.queue_limit}); waiting for it to drain",
                now + dt.timedelta(seconds=settings.queue_full_retry_s))
    return None
