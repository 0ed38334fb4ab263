"""Random posts with random delimiters through the whole adapter: never a crash, never a published delimiter."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.tumblr.autoresponder import TumblrAutoresponder
from bot.tumblr.content import text_to_blocks
from ocr.transcripts import DELIMITER
from storage.jobs import JobQueue
from tests.bot.tumblr.fake_tumblr import FakeTumblr
from tests.bot.tumblr.test_autoresponder import rows, settle

line = st.one_of(
    st.sampled_from([DELIMITER, f" {DELIMITER}", f"{DELIMITER}\r", "[image]", "", "========", f"a {DELIMITER} b", "SIGN"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20),
    # whole blocks, plain and captioned, so many posts get as far as publishing images
    st.text(alphabet=st.characters(whitelist_categories=("Lu", "Nd", "Zs")), min_size=1, max_size=15).map(
        lambda t: f"{DELIMITER}\n{t}\n{DELIMITER}"),
    st.text(alphabet=st.characters(whitelist_categories=("Ll",)), min_size=1, max_size=8).map(
        lambda c: f"{DELIMITER}\n{DELIMITER}\n{c}\n{DELIMITER}\nWORDS\n{DELIMITER}"),
)


# Deterministic (derandomize, no example database): the same posts on every run, so the area's tests
# cannot flake; widen max_examples locally to explore (250 examples take about 40 s).
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=st.lists(line, max_size=12), state=st.sampled_from(["published", "queue"]))
def test_random_posts_are_published_clean_or_held(lines: list[str], state: str, fake_tumblr: FakeTumblr,
                                                   responder: TumblrAutoresponder, queue: JobQueue) -> None:
    key = f"local:fuzz:{len(rows(responder))}"
    responder.clock.advance(days=1)  # type: ignore[attr-defined]  each example on a day of its own: the
    fake_tumblr.new_day()  # examples share one database, and their images together pass 250 uploads a day
    asyncio.run(responder.ingest(key, text_to_blocks("\n".join(lines)), ["fuzz"], state))
    asyncio.run(settle(responder, queue))
    row = rows(responder)[-1]
    assert row.post_key == key and row.status in ("published", "held"), (row.status, row.reason)
    event(f"{row.status} with {row.image_count} images")  # shown by --hypothesis-show-statistics
    post = fake_tumblr.posts[row.tumblr_post_id]
    if row.status == "published":
        assert post.state == state
        images = [b for b in post.content if b["type"] == "image"]
        assert len(images) == row.image_count and all(b["media"][0]["url"] for b in images)
    else:
        assert post.state == "draft" and row.held_reason
    for published in fake_tumblr.posts_in("published") + fake_tumblr.posts_in("queue"):
        for block in published.content:
            assert DELIMITER not in block.get("text", "") + block.get("alt_text", "")
