"""Crashes, duplicates, limits and Tumblr errors: a post waits or is held, never dropped, never doubled."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import pytumblr

from bot.tumblr.autoresponder import TumblrAutoresponder
from bot.tumblr.client import TumblrApi
from bot.tumblr.content import text_to_blocks
from storage.async_api import AsyncJobs
from storage.jobs import JobQueue
from tests.bot.tumblr.conftest import BOTH_DATABASES, drain_jobs
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import BLOG, POST, rows, settle

ONE_IMAGE = "hi\n=======\nONE\n======="


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, nothing catches it."""


def restarted(responder: TumblrAutoresponder, client: pytumblr.TumblrRestClient) -> TumblrAutoresponder:
    """A new process on the same database and blog (fresh objects, nothing carried over in memory)."""
    jobs = AsyncJobs(responder.jobs.queue, poll_initial_s=0.01, poll_max_s=0.05)
    return TumblrAutoresponder(responder.db, jobs, TumblrApi(client, BLOG), responder.settings, responder.clock)


@BOTH_DATABASES
@pytest.mark.parametrize("when", ["before_send", "after_send"])
async def test_crash_while_publishing_resumes_without_doubling(
        when: str, fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient,
        responder: TumblrAutoresponder, queue: JobQueue) -> None:
    real_create = responder.api.create

    def crashing_create(payload, media):  # noqa: ANN001, ANN202
        if when == "after_send":
            real_create(payload, media)
        raise Crash

    responder.api.create = crashing_create  # type: ignore[method-assign]
    await responder.ingest("local:crash", text_to_blocks(POST), [], "published")
    with pytest.raises(Crash):
        await settle(responder, queue)
    assert [r.status for r in rows(responder)] == ["publishing"]

    again = restarted(responder, tumblr_client)
    await again.run_once()  # the lease of the dead process still holds the post
    assert [r.status for r in rows(again)] == ["publishing"]
    again.clock.advance(minutes=6)  # type: ignore[attr-defined]
    await settle(again, queue)
    assert [r.status for r in rows(again)] == ["published"]
    assert len(fake_tumblr.posts_in("published")) == 1
    creates = [r for r in fake_tumblr.requests if r == ("POST", f"/v2/blog/{BLOG}/posts")]
    assert len(creates) == 1  # before_send: the first never left; after_send: found by slug


@BOTH_DATABASES
# published: the post has a new id, so only our slug finds it; draft: it stays a draft, found by our slug
@pytest.mark.parametrize("target", ["queue", "draft", "published"])
@pytest.mark.parametrize("when", ["before_send", "after_send"])
async def test_crash_while_editing_a_draft_edits_it_once(
        when: str, target: str, fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient,
        responder: TumblrAutoresponder, queue: JobQueue) -> None:
    draft = tumblr_client.create_text(BLOG, state="draft", tags=[f"glyphbot:{target}"], body=ONE_IMAGE)
    real_edit = responder.api.edit

    def crashing_edit(post_id, payload, media):  # noqa: ANN001, ANN202
        if when == "after_send":
            real_edit(post_id, payload, media)
        raise Crash

    responder.api.edit = crashing_edit  # type: ignore[method-assign]
    await responder.ingest_drafts()
    with pytest.raises(Crash):
        await settle(responder, queue)
    again = restarted(responder, tumblr_client)
    again.clock.advance(minutes=6)  # type: ignore[attr-defined]
    await again.ingest_drafts()  # it is published now; nothing new to take
    await settle(again, queue)
    post = fake_tumblr.post_by_genesis(draft["id"])
    assert [(r.status, r.tumblr_post_id, r.published_state) for r in rows(again)] == [("published", post.id, target)]
    assert list(fake_tumblr.posts) == [post.id] and post.state == target
    # after_send: found edited (left the drafts, or carries our slug), not edited again; before_send: edited now
    assert [method for method, _ in fake_tumblr.requests].count("PUT") == 1


async def test_crash_between_jobs_reuses_the_same_jobs(
        responder: TumblrAutoresponder, tumblr_client: pytumblr.TumblrRestClient, queue: JobQueue,
        fake_tumblr: FakeTumblr) -> None:
    await responder.ingest("local:jobs", text_to_blocks(POST), [], "published")
    await responder.run_once()  # jobs submitted, the process "dies" before any finished
    again = restarted(responder, tumblr_client)
    await settle(again, queue)
    with queue.db.read() as session:
        from sqlalchemy import func, select

        from storage.models import JobRow

        assert session.scalar(select(func.count()).select_from(JobRow)) == 2
    assert len(fake_tumblr.posts_in("published")) == 1


@BOTH_DATABASES
async def test_two_bot_processes_publish_once(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    other = restarted(responder, tumblr_client)
    tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot:queue"], body=ONE_IMAGE)
    for _ in range(3):
        await asyncio.gather(responder.ingest_drafts(), other.ingest_drafts())
        await asyncio.gather(responder.run_once(), other.run_once())
        drain_jobs(queue)
        responder.clock.advance(seconds=3)  # type: ignore[attr-defined]
    await asyncio.gather(responder.run_once(), other.run_once())
    assert [r.status for r in rows(responder)] == ["published"]
    assert len(fake_tumblr.posts_in("queue")) == 1 and len(fake_tumblr.posts) == 1
    edits = [r for r in fake_tumblr.requests if r[0] == "PUT"]
    assert len(edits) == 1


@BOTH_DATABASES
async def test_local_daily_post_limit_makes_the_post_wait_for_the_next_day(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    responder.settings = responder.settings.model_copy(update={"posts_per_day": 2})
    for n in range(3):
        await responder.ingest(f"local:{n}", text_to_blocks(ONE_IMAGE), [], "published")
    await settle(responder, queue)
    waiting = rows(responder)[2]
    assert waiting.status == "images_ready" and "daily post limit" in (waiting.reason or "")
    assert waiting.retry_at == dt.datetime(2026, 11, 25, 0, 1, tzinfo=dt.timezone.utc)
    assert len(fake_tumblr.posts_in("published")) == 2
    responder.clock.advance(days=1)  # type: ignore[attr-defined]
    await settle(responder, queue)
    assert [r.status for r in rows(responder)] == ["published"] * 3
    assert len(fake_tumblr.posts_in("published")) == 3


async def test_local_queue_and_upload_limits(fake_tumblr: FakeTumblr, responder: TumblrAutoresponder,
                                             queue: JobQueue) -> None:
    responder.settings = responder.settings.model_copy(update={"queue_limit": 1, "uploads_per_day": 2})
    await responder.ingest("local:q1", text_to_blocks(ONE_IMAGE), [], "queue")
    await responder.ingest("local:q2", text_to_blocks(ONE_IMAGE), [], "queue")
    await responder.ingest("local:p", text_to_blocks(POST), [], "published")  # 1 + 2 images > 2
    await settle(responder, queue)
    first, second, third = rows(responder)
    assert first.status == "published" and "queue is full" in (second.reason or "")
    assert "upload limit" in (third.reason or "") and third.status == "images_ready"
    assert len(fake_tumblr.posts) == 1


@pytest.mark.parametrize(("status", "code", "reason_part", "delay"), [
    (403, 8023, "403.8023", None),  # None: the next UTC day
    (403, 8004, "403.8004", None),
    (403, 8022, "403.8022", dt.timedelta(seconds=900)),
    (429, 0, "429", dt.timedelta(seconds=120)),
    (401, 0, "401", dt.timedelta(seconds=60)),
])
async def test_tumblr_refusals_make_the_post_wait_then_publish_once(
        status: int, code: int, reason_part: str, delay: dt.timedelta | None, fake_tumblr: FakeTumblr,
        responder: TumblrAutoresponder, queue: JobQueue) -> None:
    fake_tumblr.fail_next("POST", r"/posts$", status, code, headers={"Retry-After": "120"} if status == 429 else None)
    await responder.ingest("local:x", text_to_blocks(ONE_IMAGE), [], "published")
    await responder.run_once()
    drain_jobs(queue)
    responder.clock.advance(seconds=3)  # type: ignore[attr-defined]
    start = responder.clock()
    await responder.run_once()
    [row] = rows(responder)
    assert row.status == "images_ready" and reason_part in (row.reason or "")
    next_day = dt.datetime(2026, 11, 25, 0, 1, tzinfo=dt.timezone.utc)
    assert row.retry_at == (next_day if delay is None else start + delay)
    assert fake_tumblr.posts == {}
    responder.clock.advance(days=1)  # type: ignore[attr-defined]
    await responder.run_once()
    assert [r.status for r in rows(responder)] == ["published"]
    assert len(fake_tumblr.posts) == 1


async def test_gateway_timeout_after_the_post_was_made_is_not_posted_again(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    fake_tumblr.fail_next("POST", r"/posts$", 504, apply_first=True)
    await responder.ingest("local:timeout", text_to_blocks(ONE_IMAGE), [], "published")
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "publishing" and "checking for the post" in (row.reason or "")
    responder.clock.advance(minutes=2)  # type: ignore[attr-defined]
    await responder.run_once()
    [row] = rows(responder)
    assert row.status == "published" and row.tumblr_post_id == next(iter(fake_tumblr.posts))
    assert len(fake_tumblr.posts) == 1


async def test_refused_post_is_held_in_drafts_as_written(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    fake_tumblr.fail_next("POST", r"/posts$", 400, 8001)
    await responder.ingest("local:bad", text_to_blocks(ONE_IMAGE), ["t"], "published")
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and "Tumblr refused the post" in (row.held_reason or "")
    [draft] = fake_tumblr.posts_in("draft")
    assert [b["text"] for b in draft.content] == ["hi", "=======", "ONE", "======="]
    assert fake_tumblr.posts_in("published") == []


async def test_an_unexpected_error_in_one_post_does_not_stall_the_others(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    real_create = responder.api.create
    calls = []

    def flaky_create(payload, media):  # noqa: ANN001, ANN202
        calls.append(payload["slug"])
        if len(calls) == 1:
            raise KeyError("surprise")
        return real_create(payload, media)

    responder.api.create = flaky_create  # type: ignore[method-assign]
    await responder.ingest("local:a", text_to_blocks(ONE_IMAGE), [], "published")
    await responder.ingest("local:b", text_to_blocks(ONE_IMAGE), [], "published")
    await settle(responder, queue)
    first, second = rows(responder)
    assert second.status == "published"
    assert first.status == "publishing" and "internal error" in (first.reason or "")
    responder.clock.advance(minutes=10)  # type: ignore[attr-defined]
    await responder.run_once()  # looks for it by slug first (the request may have gone out), then sends
    assert [r.status for r in rows(responder)] == ["published", "published"]
    assert len(fake_tumblr.posts) == 2


async def test_an_unanswered_post_at_the_end_of_a_long_queue_is_found_not_queued_twice(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    for n in range(45):  # the queue lists next-to-publish first: our post lands on its third page
        fake_tumblr.add_post(text_to_blocks(f"queued {n}"), state="queue")
    fake_tumblr.fail_next("POST", r"/posts$", 504, apply_first=True)
    await responder.ingest("local:late", text_to_blocks(ONE_IMAGE), [], "queue")
    await settle(responder, queue)
    responder.clock.advance(minutes=2)  # type: ignore[attr-defined]
    await responder.run_once()
    [row] = rows(responder)
    assert row.status == "published" and row.published_state == "queue"
    assert len(fake_tumblr.posts_in("queue")) == 46
