"""The autoresponder's post pipeline: drafts in, transcripts turned into images, posts out, exactly once.

Every step reads the post's row, does one thing, and records the result before the next step, so a
crash anywhere resumes from the row (see `bot.tumblr.models` for the state machine):

1. `ingest` stores the author's post with its blocks planned (idempotent on the post key).
2. `pending`: one job per block, idempotency key `tumblr:<post key>:<block index>`, so a restart
   finds the same jobs instead of drawing twice; when all succeeded the post is `images_ready`.
3. `images_ready`: our own daily/queue limits are checked, the row moves to `publishing` (committed,
   compare-and-set, so two bot processes can never both send), then the one NPF request goes out.
4. `publishing` found after a crash or an ambiguous answer (5xx, timeout): look for the post by its
   slug first; send again only when it is not there.

A post that must not be published (malformed transcript, refused prompt, failed image, any
surviving `=======`) is *held*: saved to drafts as the author wrote it, with the reason in the row.
Posts that wait (limits, 429s, outages) keep `reason` and `retry_at` for moderators and are retried.

Blocking work (database, pytumblr/requests) runs in threads; the event loop only awaits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.tumblr.client import LISTING_PAGE, TumblrApi, TumblrError
from bot.tumblr.content import Block, build_content, check_blocks, media_identifier, plan_post, surviving_delimiter
from bot.tumblr.limits import backoff, local_limit, retry_at
from bot.tumblr.models import OPEN_STATUSES, TumblrImageRow, TumblrPostRow
from config.settings import TumblrSettings
from generation.request_options import asked, configured
from generation.types import RenderRequest
from ocr.transcripts import TranscriptFormatError
from storage.async_api import AsyncJobs
from storage.db import Database
from storage.errors import DatabaseUnavailable, InvalidJob, QueueLimitReached, SubmissionRefused
from storage.types import JobSubmission, utcnow

log = logging.getLogger(__name__)

STATES = ("published", "queue", "draft")
# How long a `publishing` row is left alone by other bot processes while its request is in flight.
PUBLISH_LEASE = dt.timedelta(minutes=5)
# Lower runs sooner; Discord and HTTP users wait at their screens, a post can wait a little.
TUMBLR_JOB_PRIORITY = 10
# Post keys stay short enough that "tumblr:<key>:<block>" fits the queue's 200-character idempotency keys.
MAX_POST_KEY = 150
# How soon a post whose jobs are still running is looked at again.
JOB_POLL = dt.timedelta(seconds=2)


@dataclass(frozen=True)
class Intake:
    """What a draft's control tags say: the tags to publish, the target state, and a problem that holds it."""

    tags: list[str]
    state: str
    problem: str | None = None


def draft_key(draft: dict[str, Any]) -> str:
    """The post key of a blog draft: its id and a digest of its text and tags.

    An edited draft gets a new key, so a draft a moderator fixed after it was held is taken again,
    and the adapter can tell that a draft changed under it (it then leaves the draft alone).
    """
    content = draft.get("content") if isinstance(draft.get("content"), list) else []
    texts = [block.get("text") for block in content if isinstance(block, dict) and block.get("type") == "text"]
    tags = sorted(str(tag) for tag in draft.get("tags") or [])
    digest = hashlib.sha256(json.dumps([texts, tags], default=str).encode()).hexdigest()
    return f"draft:{draft['id']}:{digest[:16]}"


def post_slug(post_key: str) -> str:
    """A slug that is already in Tumblr's normal form, so it comes back unchanged and finds the post."""
    return "glyphbot-" + hashlib.sha256(post_key.encode()).hexdigest()[:20]


class TumblrAutoresponder:
    """Owns the `tumblr_posts` rows of one blog and moves each of them through the state machine."""

    def __init__(self, db: Database, jobs: AsyncJobs, api: TumblrApi, settings: TumblrSettings,
                 clock: Callable[[], dt.datetime] = utcnow, defaults: RenderRequest | None = None) -> None:
        self.db = db
        self.jobs = jobs
        self.api = api
        self.settings = settings
        self.clock = clock
        # What each image's request starts from: `[generation]`'s defaults (steps, sampler, candidates...).
        self.defaults = defaults or configured()
        self._older_than: int | None = None  # where the next round's older page of drafts starts

    # ------------------------------------------------------------------ intake
    def control_tags(self, tags: list[str]) -> Intake | None:
        """Where a draft goes and which tags it keeps, or None when the draft is not meant for us.

        A draft is ours when it carries the intake tag, or `<intake tag>:<state>` naming where it goes.
        A misspelt or conflicting state tag still makes the draft ours, but held with the reason: a
        typo must neither publish the draft somewhere unintended nor leave it waiting unnoticed.
        """
        intake = self.settings.intake_tag
        ours, kept, named, unknown = False, [], [], []
        for tag in tags:
            if tag == intake:
                ours = True
            elif tag.startswith(intake + ":"):
                ours = True
                (named if tag[len(intake) + 1:] in STATES else unknown).append(tag)
            else:
                kept.append(tag)
        if not ours:
            return None
        choices = ", ".join(f"{intake}:{state}" for state in STATES[:-1]) + f" or {intake}:{STATES[-1]}"
        problem = None
        if unknown:
            problem = f"unknown target state in tag {unknown[0]!r}; use {choices}"
        elif len(set(named)) > 1:
            problem = f"more than one target state tag ({', '.join(named)}); keep one of {choices}"
        state = named[0][len(intake) + 1:] if named and problem is None else self.settings.default_state
        return Intake(kept, state, problem)

    async def ingest_drafts(self) -> list[int]:
        """Take the blog's drafts that carry the intake tag; returns the row ids of new posts.

        Each round reads the first page (new drafts arrive on top) and one older page, moving one
        page down per round and back to the top after the last: a draft under a pile of held or
        personal drafts is still found, in a few rounds, for two requests a round however long
        the pile (Tumblr allows a few thousand requests a day).
        """
        drafts = await asyncio.to_thread(self.api.drafts)
        if len(drafts) >= LISTING_PAGE or self._older_than is not None:
            before = self._older_than or min(int(draft["id"]) for draft in drafts)
            older = await asyncio.to_thread(self.api.drafts, before)
            self._older_than = min(int(draft["id"]) for draft in older) if len(older) >= LISTING_PAGE else None
            drafts = list({draft["id"]: draft for draft in drafts + older}.values())  # pages shift as drafts go
        # Drafts waiting on a limit stay drafts for days: skip known ones without a write transaction.
        known = await asyncio.to_thread(self._known_keys, [draft_key(draft) for draft in drafts])
        new = []
        for draft in drafts:
            control = self.control_tags(list(draft.get("tags", [])))
            if control is None or draft_key(draft) in known:
                continue
            key, source = draft_key(draft), int(draft["id"])
            try:
                row_id = await self.ingest(key, draft.get("content"), control.tags, control.state,  # type: ignore[arg-type]
                                           source_post_id=source, hold=control.problem)
            except ValueError as error:  # blocks or tags Tumblr should never send: hold it (the draft is
                row_id = await self.ingest(key, [], [], control.state, source_post_id=source,  # left as it is)
                                           hold=f"the draft cannot be read: {error}")
            if row_id is not None:
                new.append(row_id)
        return new

    async def ingest(self, post_key: str, content: list[Block], tags: list[str], target_state: str,
                     source_post_id: int | None = None, hold: str | None = None) -> int | None:
        """Record a post to make; returns its row id, or None when this key was already taken (a duplicate)."""
        return await asyncio.to_thread(record_post, self.db, self.settings, self.api.blog, post_key, content, tags,
                                       target_state, source_post_id, self.clock(), hold)

    def _known_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        with self.db.read() as session:
            return set(session.scalars(select(TumblrPostRow.post_key).where(TumblrPostRow.post_key.in_(keys))))

    # ------------------------------------------------------------------ driving
    def due_posts(self) -> list[int]:
        now = self.clock()
        with self.db.read() as session:
            query = select(TumblrPostRow.id).where(
                TumblrPostRow.status.in_(OPEN_STATUSES),
                (TumblrPostRow.retry_at.is_(None)) | (TumblrPostRow.retry_at <= now),
            ).order_by(TumblrPostRow.id)
            return list(session.scalars(query))

    async def run_once(self) -> None:
        """Advance every post that is due, one after another (publishing order follows intake order)."""
        for post_id in await asyncio.to_thread(self.due_posts):
            try:
                await self.step(post_id)
            except DatabaseUnavailable:
                raise  # nothing can be recorded now; the caller retries the whole round
            except Exception as error:  # noqa: BLE001  one bad post must not stall the others
                log.exception("tumblr post row %s failed unexpectedly", post_id)
                post = await asyncio.to_thread(self._load, post_id)
                await asyncio.to_thread(self._wait, post, f"internal error, retrying: {type(error).__name__}: {error}",
                                        self.clock() + backoff(self.settings, post.attempts + 1))

    async def step(self, post_id: int) -> str:
        """Move one post as far as it can go now; returns its status afterwards."""
        post = await asyncio.to_thread(self._load, post_id)
        if post.status == "pending":
            await self._advance_jobs(post)
            post = await asyncio.to_thread(self._load, post_id)
        if post.status in ("images_ready", "publishing") and (post.retry_at is None or post.retry_at <= self.clock()):
            await self._publish(post)
            post = await asyncio.to_thread(self._load, post_id)
        return post.status

    def _load(self, post_id: int) -> TumblrPostRow:
        with self.db.read() as session:
            row = session.get(TumblrPostRow, post_id)
            if row is None:
                raise LookupError(f"no Tumblr post row {post_id}")
            row.images  # loaded now: the row leaves the session
            return row

    def _set(self, post: TumblrPostRow, expect_status: str | None = None, **values: Any) -> bool:
        """Update the row only if nobody moved it since we read it (status and attempts unchanged)."""
        values["updated_at"] = self.clock()
        with self.db.write() as session:
            result = session.execute(
                update(TumblrPostRow)
                .where(TumblrPostRow.id == post.id, TumblrPostRow.status == (expect_status or post.status),
                       TumblrPostRow.attempts == post.attempts)
                .values(**values)
            )
            return result.rowcount == 1

    def _wait(self, post: TumblrPostRow, reason: str, until: dt.datetime, **values: Any) -> None:
        log.info("tumblr post %s waits until %s: %s", post.post_key, until.isoformat(), reason)
        self._set(post, reason=reason, retry_at=until, **values)

    def _hold(self, post: TumblrPostRow, reason: str) -> None:
        """Route the post to drafts as written; publishing then saves it there (or finds it already there)."""
        log.warning("tumblr post %s held for a moderator: %s", post.post_key, reason)
        self._set(post, status="images_ready", held_reason=reason, reason=None, retry_at=None, image_count=0)

    def _leave(self, post: TumblrPostRow, reason: str) -> None:
        """Final: people changed the post on Tumblr, so nothing is sent; the row keeps what the author wrote."""
        log.warning("tumblr post %s left as it is on Tumblr: %s", post.post_key, reason)
        self._set(post, status="held", held_reason=reason, reason=None, retry_at=None, image_count=0)

    # ------------------------------------------------------------------ images
    async def _advance_jobs(self, post: TumblrPostRow) -> None:
        """Submit missing jobs, collect finished ones; `images_ready` once every block has its picture."""
        for image in post.images:
            if image.job_id is None:
                submission = JobSubmission(
                    request=asked(self.defaults, image.text, guidance_scale=image.guidance_scale,
                                  candidates=self.settings.candidates, style=self.settings.style or None,
                                  template=self.settings.template or None),
                    source="tumblr", requester_id=post.blog[:64], requester_name=post.blog, place=f"blog:{post.blog}",
                    idempotency_key=f"tumblr:{post.post_key}:{image.block_index}",
                    # Nobody is watching a progress bar for a post: interactive requests go first.
                    priority=TUMBLR_JOB_PRIORITY)
                try:
                    job = await self.jobs.submit(submission)
                except QueueLimitReached as error:
                    await asyncio.to_thread(self._wait, post, f"waiting for room in the job queue: {error}",
                                            self.clock() + JOB_POLL)
                    return
                except (InvalidJob, SubmissionRefused) as error:
                    await asyncio.to_thread(self._hold, post, f"block {image.block_index} refused: {error}")
                    return
                await asyncio.to_thread(self._record_image, image.id, job_id=job.id)
                image.job_id = job.id
            if image.image_sha256 is None:
                job = await self.jobs.get(image.job_id)
                if not job.done:
                    continue
                if job.status != "succeeded":
                    await asyncio.to_thread(self._hold, post, f"block {image.block_index}: image job {job.id} "
                                                              f"{job.status}: {job.error or 'no reason given'}")
                    return
                chosen = [i for i in await self.jobs.images_of(job.id) if i.chosen]
                if not chosen:
                    await asyncio.to_thread(self._hold, post, f"block {image.block_index}: the image of job {job.id} "
                                                              "was hidden by a moderator")
                    return
                await asyncio.to_thread(self._record_image, image.id, image_sha256=chosen[0].sha256,
                                        width=chosen[0].width, height=chosen[0].height)
                image.image_sha256 = chosen[0].sha256
        if all(image.image_sha256 for image in post.images):
            await asyncio.to_thread(self._set, post, status="images_ready", reason=None, retry_at=None)
        else:
            await asyncio.to_thread(self._set, post, reason="drawing images", retry_at=self.clock() + JOB_POLL)

    def _record_image(self, image_id: int, **values: Any) -> None:
        with self.db.write() as session:
            session.execute(update(TumblrImageRow).where(TumblrImageRow.id == image_id).values(**values))

    # ------------------------------------------------------------------ publishing
    def _payload(self, post: TumblrPostRow) -> tuple[dict[str, Any], list[TumblrImageRow]]:
        """The NPF request body and the images it uploads; held posts go to drafts as written, no images."""
        content: list[Block] = json.loads(post.content_json)
        tags: list[str] = json.loads(post.tags_json)
        if post.held_reason is not None:
            content = [b for b in content if b.get("type") != "text" or str(b.get("text", "")).strip()]
            return {"content": content, "tags": ",".join(tags), "state": "draft", "slug": post.slug}, []
        # A post that got here unheld has no text-less block left to keep (under "hold" it would have
        # been held), so planning without them matches the plan made at intake whatever the setting is now.
        plan = plan_post(content)
        sizes = {image.block_index: (image.width or 0, image.height or 0) for image in post.images}
        if self.settings.tag_guidance and post.images:
            tags = tags + [f"guidance scale {post.guidance_scale:g}"]
        built = build_content(plan, sizes)
        return {"content": built, "tags": ",".join(tags), "state": post.target_state, "slug": post.slug}, list(post.images)

    async def _publish(self, post: TumblrPostRow) -> None:
        now = self.clock()
        final_state = "draft" if post.held_reason is not None else post.target_state
        if post.held_reason is not None and post.source_post_id is not None:
            # A held draft is already where it belongs: nothing on Tumblr changes.
            await asyncio.to_thread(self._done, post, post.source_post_id, "draft")
            return
        try:
            found = await asyncio.to_thread(self._where_it_stands, post)
        except TumblrError as error:
            await asyncio.to_thread(self._wait, post, f"cannot check the post on Tumblr: {error}",
                                    retry_at(error, now, post.attempts, self.settings))
            return
        if isinstance(found, str):
            await asyncio.to_thread(self._leave, post, found)
            return
        if found is not None:
            await asyncio.to_thread(self._done, post, found[0], found[1])
            return
        payload, images = await asyncio.to_thread(self._payload, post)
        if post.held_reason is None:  # also for a draft target: a moderator might publish it as it is
            leftover = surviving_delimiter(payload["content"], payload["tags"].split(","))
            if leftover is not None:
                await asyncio.to_thread(self._hold, post, f"a delimiter would have been published: {leftover}")
                return
        queued = await self._queue_size(post, final_state)
        if queued is False:
            return
        limited = await asyncio.to_thread(self._limited, post, queued)
        if limited is not None:
            await asyncio.to_thread(self._wait, post, *limited)
            return
        media = {media_identifier(image.block_index): await self.jobs.read_image(image.image_sha256 or "")
                 for image in images}
        claimed = await asyncio.to_thread(self._set, post, expect_status=post.status, status="publishing",
                                          attempts=post.attempts + 1, retry_at=now + PUBLISH_LEASE)
        if not claimed:
            return  # another bot process moved this post first
        post.attempts += 1
        post.status = "publishing"
        try:
            if post.source_post_id is not None:
                tumblr_id = await asyncio.to_thread(self.api.edit, post.source_post_id, payload, media)
            else:
                tumblr_id = await asyncio.to_thread(self.api.create, payload, media)
        except TumblrError as error:
            await asyncio.to_thread(self._failed, post, error)
            return
        await asyncio.to_thread(self._done, post, tumblr_id, final_state)

    def _where_it_stands(self, post: TumblrPostRow) -> tuple[int, str] | str | None:
        """Before sending: (id, state) when an earlier, unanswered attempt already made the post; a
        reason when people changed the draft on Tumblr since it was taken (their change wins, nothing
        is sent); None when the request should go out.

        A created post is found by its slug. An edited draft counts as done once it carries our slug
        (the edit sets it) or left the drafts after we sent (the queue may even have published it since):
        editing it again would upload its images twice, or pull it back from the queue. Publishing gives
        a draft a new id (its old one then answers 404), so a draft that is gone is looked for by our slug.
        """
        if post.source_post_id is None:
            return self.api.find_by_slug(post.slug) if post.status == "publishing" else None
        current = self.api.fetch(post.source_post_id)
        if current is None:
            return self.api.find_by_slug(post.slug) or (
                "the draft is gone from Tumblr's drafts: deleted, or published by hand (publishing gives a post "
                "a new id); left as it is, its text is kept here")
        state = str(current.get("state", ""))
        if current.get("slug") == post.slug or (post.status == "publishing" and state != "draft"):
            return post.source_post_id, state
        if state != "draft":
            return f"the draft is no longer a draft (now {state}): someone published or queued it by hand; left as it is"
        if draft_key(current) != post.post_key:
            return ("the draft changed on Tumblr since it was taken (text or tags); left as it is, and taken "
                    "again as a new post while it carries the intake tag")
        return None

    async def _queue_size(self, post: TumblrPostRow, final_state: str) -> int | None | bool:
        """The blog's queue size when the post goes to the queue; False when it could not be asked (post waits)."""
        if final_state != "queue":
            return None
        try:
            return await asyncio.to_thread(self.api.queue_size)
        except TumblrError as error:
            await asyncio.to_thread(self._wait, post, f"cannot read the queue size: {error}",
                                    retry_at(error, self.clock(), post.attempts + 1, self.settings))
            return False

    def _limited(self, post: TumblrPostRow, queued: int | None) -> tuple[str, dt.datetime] | None:
        if post.held_reason is not None:
            return None  # a draft without images counts against no limit
        with self.db.read() as session:
            return local_limit(session, post, queued, self.clock(), self.settings)

    def _done(self, post: TumblrPostRow, tumblr_id: int, state: str) -> None:
        status = "held" if post.held_reason is not None else "published"
        self._set(post, status=status, tumblr_post_id=tumblr_id, published_state=state,
                  published_at=self.clock(), reason=None, retry_at=None)
        log.info("tumblr post %s %s as %s (id %s)", post.post_key, status, state, tumblr_id)

    def _failed(self, post: TumblrPostRow, error: TumblrError) -> None:
        now = self.clock()
        when = retry_at(error, now, post.attempts, self.settings)
        if error.verdict == "wait":
            # Tumblr refused before doing anything: the post goes back to waiting.
            self._wait(post, f"{error}", when, status="images_ready")
        elif error.verdict == "uncertain":
            # It may exist now; stay in `publishing` so the next attempt looks before sending.
            self._wait(post, f"{error} (checking for the post before retrying)", when)
        elif post.held_reason is None:
            self._set(post, status="images_ready", held_reason=f"Tumblr refused the post: {error}",
                      reason=None, retry_at=None, image_count=0)
        else:
            self._set(post, status="held", reason=f"Tumblr refused even the draft: {error}", retry_at=None)


def record_post(db: Database, settings: TumblrSettings, blog: str, post_key: str, content: list[Block],
                tags: list[str], target_state: str, source_post_id: int | None = None,
                now: dt.datetime | None = None, hold: str | None = None) -> int | None:
    """Store a post for the autoresponder (drafts, the CLI and the HTTP API all come in here). Blocking.

    `post_key` names the post where it came from ("draft:<id>:<digest>", "local:...", "http:<id>"); the same
    key twice is a duplicate and returns None. The blocks are planned now: a malformed transcript or
    a text-less block under `textless = "hold"` makes the post held from the start, and so does
    `hold` (the caller's reason). Raises ValueError for an unknown target state, and for a tag
    Tumblr would split (a comma: tags travel comma-separated) or drop (empty), and for content that
    is not a list of NPF blocks.
    """
    if target_state not in STATES:
        raise ValueError(f"target state must be one of {', '.join(STATES)}, not {target_state!r}")
    if not post_key or len(post_key) > MAX_POST_KEY:
        raise ValueError(f"a post key must have 1 to {MAX_POST_KEY} characters, not {len(post_key)}")
    check_blocks(content)
    for tag in tags:
        if "," in tag:
            raise ValueError(f"tag {tag!r} contains a comma, which would split it into two tags on Tumblr")
        if not tag.strip():
            raise ValueError("a tag must not be empty")
    held_reason = hold
    images = []
    try:
        images = plan_post(content, keep_textless=settings.textless == "hold").images
    except TranscriptFormatError as error:
        held_reason = held_reason or f"malformed image transcript: {error}"
    if held_reason is None and any(image.textless for image in images):
        held_reason = "the post has a text-less image block and tumblr.textless is 'hold'"
    guidance = random.Random(post_key).choice(settings.guidance_options)
    now = now or utcnow()
    row = TumblrPostRow(
        post_key=post_key, blog=blog, source_post_id=source_post_id, content_json=json.dumps(content),
        tags_json=json.dumps(tags), target_state=target_state, slug=post_slug(post_key), guidance_scale=guidance,
        status="pending" if images and held_reason is None else "images_ready", held_reason=held_reason,
        attempts=0, image_count=0 if held_reason else len(images), created_at=now, updated_at=now,
    )
    if held_reason is None:
        row.images = [TumblrImageRow(block_index=image.index, text=image.text, caption=image.caption,
                                     guidance_scale=guidance) for image in images]
    try:
        with db.write() as session:
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        return None
