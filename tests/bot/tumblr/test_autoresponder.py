"""The autoresponder end to end: real pytumblr and NPF requests against the loopback Tumblr, real queue."""

from __future__ import annotations

import io

import pytumblr
from PIL import Image

from bot.tumblr.autoresponder import TumblrAutoresponder
from bot.tumblr.models import TumblrPostRow
from ocr.transcripts import DELIMITER
from storage.jobs import JobQueue
from tests.bot.tumblr.conftest import BOTH_DATABASES, drain_jobs, draw_text_png
from tests.term_bypasses import BLOCKED, BYPASSES
from tests.bot.tumblr.fake_tumblr import FakeTumblr

BLOG = "glyphbot-test"
POST = "a thought\n\n=======\nOPEN\nLATE\n=======\nand a caption one\n=======\n=======\na shop sign\n=======\nSALE\n=======\nbye"


async def settle(responder: TumblrAutoresponder, queue: JobQueue, rounds: int = 4) -> None:
    """Let intake, the worker and publishing run until nothing is left to do."""
    for _ in range(rounds):
        await responder.run_once()
        drain_jobs(queue)
        responder.clock.advance(seconds=3)  # type: ignore[attr-defined]  the tests' Clock
    await responder.run_once()


def rows(responder: TumblrAutoresponder) -> list[TumblrPostRow]:
    from sqlalchemy import select

    with responder.db.read() as session:
        return list(session.scalars(select(TumblrPostRow).order_by(TumblrPostRow.id)))


def assert_images_match_transcripts(fake: FakeTumblr, post_id: int, transcripts: list[str]) -> None:
    content = fake.posts[post_id].content
    images = [b for b in content if b["type"] == "image"]
    assert [b["alt_text"] for b in images] == transcripts
    for block, text in zip(images, transcripts, strict=True):
        name = block["media"][0]["url"].rsplit("/", 1)[-1]
        uploaded = fake.media[name]
        assert Image.open(io.BytesIO(uploaded)).format == "PNG"
        assert uploaded == draw_text_png(text.split("\n", 1)[-1] if text.startswith("a shop sign") else text)
    assert all(DELIMITER not in b.get("text", "") for b in content)


@BOTH_DATABASES
async def test_draft_is_published_in_place_with_images_and_alt_text(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    draft = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot", "cats"], body=POST)
    tumblr_client.create_text(BLOG, state="draft", tags=["unrelated"], body="not for the bot\n=======\nx")
    assert await responder.ingest_drafts() != []
    await settle(responder, queue)

    post = fake_tumblr.post_by_genesis(draft["id"])
    assert post.state == "published", [(r.status, r.reason, r.held_reason) for r in rows(responder)]
    assert post.tags == ["cats", "guidance scale 2"]
    assert [b.get("text") for b in post.content if b["type"] == "text"] == ["a thought", "and a caption one", "bye"]
    assert_images_match_transcripts(fake_tumblr, post.id, ["OPEN\nLATE", "a shop sign\nSALE"])
    assert len(fake_tumblr.posts_in("published")) == 1 and len(fake_tumblr.posts_in("draft")) == 1
    [row] = rows(responder)
    assert (row.status, row.tumblr_post_id, row.image_count, row.reason) == ("published", post.id, 2, None)
    # the published post reads back through pytumblr's legacy view with <figure><img alt=...>
    body = tumblr_client.posts(BLOG, id=post.id)["posts"][0]["body"]
    assert 'alt="OPEN\nLATE"' in body and DELIMITER not in body


@BOTH_DATABASES
async def test_local_post_is_created_once_in_the_queue(fake_tumblr: FakeTumblr, responder: TumblrAutoresponder,
                                                       queue: JobQueue) -> None:
    from bot.tumblr.content import text_to_blocks

    assert await responder.ingest("local:one", text_to_blocks(POST), ["art"], "queue") is not None
    assert await responder.ingest("local:one", text_to_blocks(POST), ["art"], "queue") is None  # duplicate
    await settle(responder, queue)
    [post] = fake_tumblr.posts_in("queue")
    assert post.slug.startswith("glyphbot-") and post.tags == ["art", "guidance scale 2"]
    assert_images_match_transcripts(fake_tumblr, post.id, ["OPEN\nLATE", "a shop sign\nSALE"])
    assert len(fake_tumblr.posts) == 1


async def test_bad_intake_is_refused_with_a_clear_error(responder: TumblrAutoresponder) -> None:
    import pytest

    from bot.tumblr.content import text_to_blocks

    with pytest.raises(ValueError, match="target state"):
        await responder.ingest("local:x", text_to_blocks("hi"), [], "later")
    with pytest.raises(ValueError, match="post key"):
        await responder.ingest("local:" + "x" * 200, text_to_blocks("hi"), [], "draft")
    for content, why in (("just text", "list of NPF blocks"), ([{"type": "text", "text": "a"}, "b"], "block 1 is not"),
                         ([{"text": "a"}], "block 0 has no type"), ([{"type": "text", "text": None}], "block 0: text")):
        with pytest.raises(ValueError, match=why):
            await responder.ingest("local:y", content, [], "draft")  # type: ignore[arg-type]
    assert rows(responder) == []


async def test_drafts_below_the_first_page_are_taken_a_page_per_round(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder) -> None:
    from bot.tumblr.content import text_to_blocks

    oldest = fake_tumblr.add_post(text_to_blocks("bottom of the pile"), state="draft", tags=["glyphbot"])
    for n in range(41):  # the author's own drafts, newer, never ours: two more pages of them
        fake_tumblr.add_post(text_to_blocks(f"note {n}"), state="draft", tags=["personal"])
    newest = fake_tumblr.add_post(text_to_blocks("top"), state="draft", tags=["glyphbot"])
    await responder.ingest_drafts()  # the first page and the second
    assert [r.source_post_id for r in rows(responder)] == [newest.id]
    await responder.ingest_drafts()  # the first page and the third, where the oldest lies
    assert [r.source_post_id for r in rows(responder)] == [newest.id, oldest.id]
    drafts_read = [path for method, path in fake_tumblr.requests if path.endswith("/posts/draft")]
    assert len(drafts_read) == 4  # two pages a round, however long the pile


async def test_blocked_term_bypasses_in_transcripts_hold_the_post(fake_tumblr: FakeTumblr, responder: TumblrAutoresponder,
                                                                 queue: JobQueue) -> None:
    from bot.tumblr.content import text_to_blocks
    from storage.moderation import Moderation

    Moderation(queue.db).block_term(BLOCKED, moderator="test")
    for number, text in enumerate(BYPASSES.values()):
        await responder.ingest(f"local:{number}", text_to_blocks(f"intro\n\n{DELIMITER}\n{text}\n{DELIMITER}\nbye"), [], "queue")
    await settle(responder, queue)
    assert [(r.status, "blocked term" in (r.held_reason or "")) for r in rows(responder)] == [("held", True)] * len(BYPASSES)
    assert fake_tumblr.posts_in("queue") == [] and queue.list().jobs == []
    held = [post.content for post in fake_tumblr.posts.values()]  # held in drafts, as the author wrote them
    assert sorted(block["text"] for content in held for block in content if block.get("text") not in ("intro", "bye", DELIMITER, "")) \
        == sorted(line for text in BYPASSES.values() for line in text.split("\n"))
