"""The autoresponder's own pictures end to end: a tweet transcript of 200 characters, as the
autoresponder writes them, goes through real pytumblr, the queue and the worker with the real layout
and template code (drawn by the font renderer, read back by tesseract), and is published, not held."""

from __future__ import annotations

import io

import pytumblr
from PIL import Image

from bot.render.cascade import LayoutFontRenderer
from bot.tumblr.autoresponder import TumblrAutoresponder
from ocr.policy import OcrSettings
from storage.jobs import JobQueue
from tests.bot.tumblr.conftest import drain_jobs
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import rows

BLOG = "glyphbot-test"
TWEET = (
    "dril\n@dril\n"
    "i will never apologize for the things i have tweeted. not to my followers, not to the press, and "
    "certainly not to the man at the deli who keeps asking me to explain my posts out loud"
)


async def _settle(responder: TumblrAutoresponder, queue: JobQueue, renderer: LayoutFontRenderer) -> None:
    for _ in range(4):
        await responder.run_once()
        drain_jobs(queue, renderer)
        responder.clock.advance(seconds=3)  # type: ignore[attr-defined]  the tests' Clock
    await responder.run_once()


async def test_a_200_character_tweet_transcript_is_published_with_its_picture(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    assert 190 <= len(TWEET) <= 210
    draft = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=f"look at this\n\n=======\n{TWEET}\n=======\nwow")
    await responder.ingest_drafts()
    await _settle(responder, queue, LayoutFontRenderer(256, OcrSettings(parallel_workers=1)))

    post = fake_tumblr.post_by_genesis(draft["id"])
    assert post.state == "published", [(r.status, r.reason, r.held_reason) for r in rows(responder)]
    [image] = [block for block in post.content if block["type"] == "image"]
    assert image["alt_text"] == TWEET
    uploaded = Image.open(io.BytesIO(fake_tumblr.media[image["media"][0]["url"].rsplit("/", 1)[-1]]))
    assert uploaded.size == (256, 256)


async def test_a_transcript_over_380_characters_is_held_with_the_limit_named(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    too_long = "NOTICE\n" + " ".join(["the pool is closed for repairs until further notice"] * 8)
    assert len(too_long) > 380
    tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=f"hm\n\n=======\n{too_long}\n=======\nok")
    await responder.ingest_drafts()
    await _settle(responder, queue, LayoutFontRenderer(256, OcrSettings(parallel_workers=1)))
    [row] = rows(responder)
    assert row.status != "published"
    assert "380" in f"{row.reason} {row.held_reason}"
