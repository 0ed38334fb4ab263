"""Drafts that people change on Tumblr while the adapter works on them: their change wins, nothing is lost."""

from __future__ import annotations

import json

import pytumblr

from bot.tumblr.autoresponder import TumblrAutoresponder
from ocr.transcripts import DELIMITER
from storage.jobs import JobQueue
from tests.bot.tumblr.conftest import drain_jobs
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import BLOG, rows, settle

ONE_IMAGE = f"hi\n{DELIMITER}\nONE\n{DELIMITER}"


async def taken_draft(client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder) -> dict:
    """A tagged draft with one image block, taken by the adapter and its job submitted."""
    draft = client.create_text(BLOG, state="draft", tags=["glyphbot"], body=ONE_IMAGE)
    await responder.ingest_drafts()
    await responder.run_once()
    return draft


def sent(fake: FakeTumblr) -> list[tuple[str, str]]:
    """The NPF requests that made or changed a post (not the reads, not the test's own legacy calls)."""
    return [(method, path) for method, path in fake.requests if method in ("PUT", "POST") and "/posts" in path]


async def test_a_held_draft_fixed_by_a_moderator_is_taken_again(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    draft = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=f"hi\n{DELIMITER}\nNEVER CLOSED")
    await responder.ingest_drafts()
    await settle(responder, queue)
    assert [r.status for r in rows(responder)] == ["held"]
    tumblr_client.edit_post(BLOG, id=draft["id"], type="text", body=ONE_IMAGE)  # the moderator closes the block
    assert len(await responder.ingest_drafts()) == 1
    await settle(responder, queue)
    held, fixed = rows(responder)
    assert (held.status, fixed.status, fixed.source_post_id) == ("held", "published", draft["id"])
    post = fake_tumblr.post_by_genesis(draft["id"])
    assert post.state == "published" and [b["type"] for b in post.content] == ["text", "image"]


async def test_a_draft_deleted_before_publishing_is_held_with_its_text_kept(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    draft = await taken_draft(tumblr_client, responder)
    tumblr_client.delete_post(BLOG, draft["id"])
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and "gone" in (row.held_reason or "") and row.tumblr_post_id is None
    assert "ONE" in json.dumps(json.loads(row.content_json))  # the author's text stays in the database
    assert fake_tumblr.posts == {} and sent(fake_tumblr) == []  # not re-created behind the moderator's back


async def test_a_draft_edited_while_its_images_were_drawn_is_not_overwritten(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    draft = await taken_draft(tumblr_client, responder)
    drain_jobs(queue)
    tumblr_client.edit_post(BLOG, id=draft["id"], type="text", body=f"hello\n{DELIMITER}\nTWO\n{DELIMITER}")
    responder.clock.advance(seconds=3)  # type: ignore[attr-defined]  the tests' Clock
    await responder.run_once()  # the old version is not sent over the edit
    old = rows(responder)[0]
    assert old.status == "held" and "changed on Tumblr" in (old.held_reason or "") and sent(fake_tumblr) == []
    await responder.ingest_drafts()
    await settle(responder, queue)
    post = fake_tumblr.post_by_genesis(draft["id"])
    assert post.state == "published" and post.content[0]["text"] == "hello"
    assert [b["alt_text"] for b in post.content if b["type"] == "image"] == ["TWO"]
    assert len(sent(fake_tumblr)) == 1


async def test_untagging_queueing_or_publishing_a_draft_by_hand_stops_the_adapter(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    drafts = {change: tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body=f"{change}\n{ONE_IMAGE}")
              for change in ("untag", "queue", "publish")}
    await responder.ingest_drafts()
    await responder.run_once()
    drain_jobs(queue)
    tumblr_client.edit_post(BLOG, id=drafts["untag"]["id"], type="text", tags=["mine now"])
    tumblr_client.edit_post(BLOG, id=drafts["queue"]["id"], type="text", state="queue")
    tumblr_client.edit_post(BLOG, id=drafts["publish"]["id"], type="text", state="published")
    await settle(responder, queue)
    reasons = {row.source_post_id: (row.status, row.held_reason or "") for row in rows(responder)}
    for change, why in (("untag", "changed on Tumblr"), ("queue", "no longer a draft (now queue)"),
                        ("publish", "published by hand")):
        status, reason = reasons[drafts[change]["id"]]
        assert status == "held" and why in reason, (change, status, reason)
    assert sent(fake_tumblr) == [] and fake_tumblr.posts[drafts["untag"]["id"]].tags == ["mine now"]
