"""Reading posts: each image becomes its OCR transcript (real tesseract), read once per URL and content."""

from __future__ import annotations

import asyncio
import io

import pytumblr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFont

from bot.tumblr.client import TumblrApi
from bot.tumblr.legacy import html_to_blocks, post_blocks
from bot.tumblr.reading import ImageUnavailable, PostReader, fetch_image, read_posts, tesseract_reader
from ocr.transcripts import DELIMITER, image_blocks
from storage.db import Database
from tests.bot.tumblr.conftest import BOTH_DATABASES
from tests.bot.tumblr.fake_tumblr import FakeTumblr

BLOG = "glyphbot-test"


def sign_png(text: str) -> bytes:
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 40)
    image = Image.new("RGB", (40 + 30 * len(text), 90), "white")
    ImageDraw.Draw(image).text((20, 20), text, font=font, fill="black")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


class Counting:
    def __init__(self, inner):  # noqa: ANN001
        self.inner, self.calls = inner, 0

    def __call__(self, arg):  # noqa: ANN001, ANN204
        self.calls += 1
        return self.inner(arg)


def test_dashboard_photo_post_reads_as_a_transcript_once(
        fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient, database: Database, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "sign.png"
    path.write_bytes(sign_png("OPEN LATE"))
    tumblr_client.create_photo(BLOG, state="published", data=[str(path)], caption="<p>look at this</p>")
    fetch, read = Counting(fetch_image), Counting(tesseract_reader())
    reader = PostReader(database, read, fetch)
    api = TumblrApi(tumblr_client, BLOG)

    [(post_id, text)] = asyncio.run(read_posts(api, reader))
    [block] = image_blocks(text)
    assert block.text == "OPEN LATE" and post_id in fake_tumblr.posts
    assert text.endswith("look at this\n")
    assert asyncio.run(read_posts(api, reader)) == [(post_id, text)]
    assert (fetch.calls, read.calls) == (1, 1)


@BOTH_DATABASES
def test_same_picture_under_another_url_is_not_read_again(database: Database) -> None:
    png = sign_png("HI")
    read = Counting(lambda data: "HI")
    reader = PostReader(database, read, {"http://a/1.png": png, "http://b/2.png": png}.__getitem__)
    assert reader.transcript("http://a/1.png") == reader.transcript("http://b/2.png") == "HI"
    assert read.calls == 1


def test_alt_text_becomes_the_caption_and_delimiters_never_leak(database: Database) -> None:
    post = {"content": [
        {"type": "text", "text": "before"},
        {"type": "text", "text": "======="},  # a reader's own post can hold one; it must not open a block
        {"type": "image", "alt_text": "a door\n\nsign =======", "media": [{"url": "http://x/door.png"}]},
    ]}
    reader = PostReader(database, lambda data: "PUSH\n=======\nPULL", lambda url: b"png")
    text = reader.post_text(post)
    [block] = image_blocks(text)
    assert (block.caption, block.text) == ("a door sign =", "PUSH\nPULL")
    assert text.startswith("before\n\n")


def test_unavailable_and_corrupt_images_read_as_textless(database: Database) -> None:
    def gone(url: str) -> bytes:
        raise ImageUnavailable(url)

    post = {"content": [{"type": "image", "media": [{"url": "http://x/gone.png"}]}]}
    assert image_blocks(PostReader(database, tesseract_reader(), gone).post_text(post))[0].text == "[image]"
    corrupt = PostReader(database, tesseract_reader(), lambda url: b"not an image at all")
    assert image_blocks(corrupt.post_text({"content": [{"type": "image", "media": [{"url": "u"}]}]}))[0].text == ""


def test_legacy_html_bodies_become_blocks() -> None:
    body = '<p>one &amp; two</p><figure><img src="http://x/a.png" alt="A"/></figure>line<br>next'
    assert html_to_blocks(body) == [
        {"type": "text", "text": "one & two"},
        {"type": "image", "alt_text": "A", "media": [{"url": "http://x/a.png", "type": "image/png", "width": 0, "height": 0}]},
        {"type": "text", "text": "line"}, {"type": "text", "text": "next"}]
    assert post_blocks({"type": "text", "body": "<p>x</p>"}) == [{"type": "text", "text": "x"}]
    ask = post_blocks({"type": "answer", "question": "what is\nthis?", "answer": '<p>a sign</p><img src="u" alt="">'})
    assert [b.get("text") for b in ask] == ["what is", "this?", "a sign", None]


def test_asks_read_with_their_question_and_images(fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient,
                                                  database: Database) -> None:
    media = fake_tumblr.upload_media(sign_png("HELP"))
    ask = fake_tumblr.add_post([{"type": "text", "text": "what does it say?"},
                                {"type": "image", "media": [media], "alt_text": ""}],
                               state="submission", legacy_type="answer")
    reader = PostReader(database, tesseract_reader())
    [(post_id, text)] = asyncio.run(read_posts(TumblrApi(tumblr_client, BLOG), reader, "submissions"))
    assert post_id == ask.id and text.startswith("what does it say?\n")
    assert [b.text for b in image_blocks(text)] == ["HELP"]


def test_reblogs_read_with_their_trail_oldest_first(fake_tumblr: FakeTumblr, tumblr_client: pytumblr.TumblrRestClient,
                                                    database: Database) -> None:
    media = fake_tumblr.upload_media(sign_png("NO EXIT"))
    root = fake_tumblr.add_post([{"type": "text", "text": "found this"},
                                 {"type": "image", "media": [media], "alt_text": "a door"}])
    reblog = tumblr_client.reblog(BLOG, id=root.id, reblog_key=f"rk{root.id}", comment="<p>so true</p>")
    fetch = Counting(fetch_image)
    reader = PostReader(database, tesseract_reader(), fetch)
    texts = dict(asyncio.run(read_posts(TumblrApi(tumblr_client, BLOG), reader)))
    assert texts[reblog["id"]] == texts[root.id] + "so true\n"
    [block] = image_blocks(texts[reblog["id"]])
    assert (block.caption, block.text) == ("a door", "NO EXIT")
    assert fetch.calls == 1  # the trail's picture is the root's: read once


def test_npf_image_read_from_its_original_size() -> None:
    from bot.tumblr.legacy import image_url

    sizes = [{"url": "http://x/400.png", "width": 400}, {"url": "http://x/1280.png", "width": 1280},
             {"url": "http://x/75.png", "width": 75}]
    assert image_url({"type": "image", "media": sizes}) == "http://x/1280.png"
    sizes[2]["has_original_dimensions"] = True
    assert image_url({"type": "image", "media": sizes}) == "http://x/75.png"
    assert image_url({"type": "image", "media": []}) is None


html_piece = st.one_of(
    st.sampled_from(["<p>", "</p>", "<br>", "<br/>", "<blockquote>", "</blockquote>", "<figure>", "</figure>",
                     "<b>", "</b>", "&amp;", "&#61;", "<!-- x -->", "<img alt='a ======= b'>", "\n", DELIMITER]),
    st.builds(lambda n, alt: f'<img src="http://x/{n}.png" alt="{alt}"/>', st.integers(0, 5),
              st.sampled_from(["", "a sign", DELIMITER, "two\nlines"])),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pieces=st.lists(html_piece, max_size=30), ocr=st.sampled_from(["", "OPEN", f"A\n{DELIMITER}\nB", DELIMITER]))
def test_any_legacy_body_reads_as_well_formed_transcripts(pieces: list[str], ocr: str, database: Database) -> None:
    body = "".join(pieces)
    post = {"type": "text", "body": body}
    text = PostReader(database, lambda data: ocr, lambda url: url.encode()).post_text(post)
    blocks = image_blocks(text)  # strict: the bot is never shown a malformed transcript
    assert len(blocks) == sum(1 for b in html_to_blocks(body) if b["type"] == "image" and b["media"][0]["url"])
    assert all(DELIMITER not in line for b in blocks for line in (b.text + "\n" + (b.caption or "")).split("\n"))
