"""Posts that must not be published go to drafts as written, with the reason kept for moderators."""

from __future__ import annotations

import pytumblr

from bot.tumblr.autoresponder import TumblrAutoresponder
from bot.tumblr.content import text_to_blocks
from generation.types import RenderRequest, RenderResult
from ocr.transcripts import DELIMITER
from storage.jobs import JobQueue
from tests.bot.tumblr.conftest import drain_jobs
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import BLOG, rows, settle


async def test_malformed_draft_stays_a_draft_untouched(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    draft = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot"], body="oops\n=======\nNEVER CLOSED")
    await responder.ingest_drafts()
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and "never closed" in (row.held_reason or "")
    assert fake_tumblr.posts[draft["id"]].state == "draft"
    assert not any(method in ("PUT",) or path.endswith("/posts") and method == "POST" for method, path in fake_tumblr.requests)
    await responder.ingest_drafts()  # seen before: not taken twice
    assert len(rows(responder)) == 1


async def test_malformed_local_post_is_saved_as_a_draft(fake_tumblr: FakeTumblr, responder: TumblrAutoresponder,
                                                        queue: JobQueue) -> None:
    await responder.ingest("local:bad", text_to_blocks("oops\n\n=======\nNEVER CLOSED"), ["x"], "published")
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and row.published_state == "draft"
    [draft] = fake_tumblr.posts_in("draft")
    assert [b["text"] for b in draft.content] == ["oops", DELIMITER, "NEVER CLOSED"] and draft.tags == ["x"]
    assert fake_tumblr.posts_in("published") == []


async def test_prose_with_a_delimiter_inside_a_line_is_never_published(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    await responder.ingest("local:sneaky", text_to_blocks(f"look {DELIMITER} here\n{DELIMITER}\nHI\n{DELIMITER}"), [], "published")
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and "delimiter would have been published" in (row.held_reason or "")
    assert fake_tumblr.posts_in("published") == [] and len(fake_tumblr.posts_in("draft")) == 1


async def test_refused_prompt_and_failed_job_hold_the_post(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    class Broken:
        def render(self, request: RenderRequest, progress=None) -> RenderResult:  # noqa: ANN001
            raise RuntimeError("renderer exploded")

    await responder.ingest("local:long", text_to_blocks(f"{DELIMITER}\n{'A' * 400}\n{DELIMITER}"), [], "published")
    await responder.ingest("local:fails", text_to_blocks(f"{DELIMITER}\nFINE\n{DELIMITER}"), [], "published")
    await responder.run_once()
    drain_jobs(queue, Broken())
    responder.clock.advance(seconds=3)  # type: ignore[attr-defined]
    await settle(responder, queue)
    long, fails = rows(responder)
    assert long.status == "held" and "400 characters" in (long.held_reason or "")
    assert fails.status == "held" and "renderer exploded" in (fails.held_reason or "")
    assert fake_tumblr.posts_in("published") == [] and len(fake_tumblr.posts_in("draft")) == 2


async def test_textless_blocks_are_dropped_or_held_by_setting(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    text = f"a\n{DELIMITER}\n[image]\n{DELIMITER}\nb\n{DELIMITER}\nWORDS\n{DELIMITER}"
    await responder.ingest("local:omit", text_to_blocks(text), [], "published")
    responder.settings = responder.settings.model_copy(update={"textless": "hold"})
    await responder.ingest("local:hold", text_to_blocks(text), [], "published")
    await settle(responder, queue)
    omitted, held = rows(responder)
    assert omitted.status == "published" and omitted.image_count == 1
    assert held.status == "held" and "text-less" in (held.held_reason or "")
    [published] = fake_tumblr.posts_in("published")
    assert [b["type"] for b in published.content] == ["text", "text", "image"]


async def test_delimiters_run_together_in_one_paragraph_are_held_even_for_a_draft_target(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder, queue: JobQueue) -> None:
    content = [{"type": "text", "text": f"words {DELIMITER} SIGN {DELIMITER} more"}]  # HTML newlines became spaces
    await responder.ingest("local:oneline", content, [], "draft")
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and DELIMITER in (row.held_reason or "")


async def test_a_misspelt_or_conflicting_state_tag_holds_the_draft_with_the_reason(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue) -> None:
    typo = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot:publish"], body="a\n=======\nHI\n=======")
    both = tumblr_client.create_text(BLOG, state="draft", tags=["glyphbot:queue", "glyphbot:published"], body="b")
    await responder.ingest_drafts()
    await settle(responder, queue)
    by_source = {row.source_post_id: row for row in rows(responder)}
    assert by_source[typo["id"]].status == "held"
    assert "'glyphbot:publish'" in (by_source[typo["id"]].held_reason or "")
    assert "glyphbot:published, glyphbot:queue or glyphbot:draft" in (by_source[typo["id"]].held_reason or "")
    assert by_source[both["id"]].status == "held" and "more than one" in (by_source[both["id"]].held_reason or "")
    assert {post.state for post in fake_tumblr.posts.values()} == {"draft"}  # both left as written
    assert fake_tumblr.posts[typo["id"]].tags == ["glyphbot:publish"]


async def test_tags_tumblr_would_split_or_drop_are_refused_at_intake(responder: TumblrAutoresponder) -> None:
    import pytest

    for bad, why in ((["red, green"], "comma"), ([" "], "empty")):
        with pytest.raises(ValueError, match=why):
            await responder.ingest("local:tags", text_to_blocks("hi"), bad, "published")
    assert rows(responder) == []


async def test_a_draft_whose_blocks_cannot_be_read_is_held_and_the_others_are_taken(
        fake_tumblr: FakeTumblr, responder: TumblrAutoresponder) -> None:
    odd = fake_tumblr.add_post([{"type": "text", "text": None}], state="draft", tags=["glyphbot"])
    fine = fake_tumblr.add_post(text_to_blocks("fine"), state="draft", tags=["glyphbot"])
    assert len(await responder.ingest_drafts()) == 2
    by_source = {row.source_post_id: row for row in rows(responder)}
    assert by_source[odd.id].held_reason == "the draft cannot be read: block 0: text must be a string"
    assert by_source[fine.id].held_reason is None


async def test_a_legacy_photo_draft_tumblr_will_not_edit_as_npf_is_held_as_it_is(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, responder: TumblrAutoresponder,
        queue: JobQueue, tmp_path) -> None:  # noqa: ANN001
    from tests.bot.tumblr.conftest import draw_text_png

    (tmp_path / "p.png").write_bytes(draw_text_png("P"))
    photo = tumblr_client.create_photo(BLOG, state="draft", tags=["glyphbot"], data=[str(tmp_path / "p.png")],
                                       caption=f"<p>{DELIMITER}</p><p>SIGN</p><p>{DELIMITER}</p>")
    await responder.ingest_drafts()
    await settle(responder, queue)
    [row] = rows(responder)
    assert row.status == "held" and "legacy text posts" in (row.held_reason or "")
    assert fake_tumblr.posts[photo["id"]].state == "draft" and len(fake_tumblr.posts) == 1
