"""The loopback server itself: it must refuse what real Tumblr refuses, or the other tests prove little."""

from __future__ import annotations

import json

import pytest
import pytumblr
import requests

from bot.tumblr.client import TumblrApi, TumblrError
from tests.bot.tumblr.conftest import draw_text_png
from tests.bot.tumblr.fake_tumblr import FakeTumblr

BLOG = "glyphbot-test"


def test_wrong_secret_is_refused_by_signature_check(fake_tumblr: FakeTumblr) -> None:
    creds = fake_tumblr.credentials
    impostor = pytumblr.TumblrRestClient(creds.consumer_key, "not-the-secret", creds.token, creds.token_secret,
                                         host=fake_tumblr.host)
    assert impostor.blog_info(BLOG)["meta"]["status"] == 401
    with pytest.raises(TumblrError) as refused:
        TumblrApi(impostor, BLOG).create({"content": [{"type": "text", "text": "x"}]}, {})
    assert refused.value.status == 401 and refused.value.verdict == "wait"
    assert fake_tumblr.posts == {}


def test_legacy_photo_upload_and_listing_through_pytumblr(fake_tumblr: FakeTumblr,
                                                          tumblr_client: pytumblr.TumblrRestClient, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "a.png").write_bytes(draw_text_png("A"))
    created = tumblr_client.create_photo(BLOG, state="queue", tags=["x"], data=[str(tmp_path / "a.png")])
    [post] = tumblr_client.queue(BLOG)["posts"]
    assert post["id"] == created["id"] and post["type"] == "photo" and post["tags"] == ["x"]
    assert requests.get(post["photos"][0]["original_size"]["url"], timeout=5).content == draw_text_png("A")
    assert tumblr_client.blog_info(BLOG)["blog"]["queue"] == 1
    assert tumblr_client.delete_post(BLOG, created["id"]) == {"id": created["id"]}
    assert tumblr_client.delete_post(BLOG, created["id"])["meta"]["status"] == 404


def test_npf_needs_the_json_part_first_and_real_images(fake_tumblr: FakeTumblr,
                                                       tumblr_client: pytumblr.TumblrRestClient) -> None:
    request = tumblr_client.request
    payload = {"content": [{"type": "image", "media": [{"type": "image/png", "identifier": "i0"}]}]}
    image_first = [("i0", ("i0.png", draw_text_png("B"), "image/png")),
                   ("json", (None, json.dumps(payload).encode(), "application/json"))]
    answer = requests.post(f"{request.host}/v2/blog/{BLOG}/posts", files=image_first, headers=request.headers,
                           auth=request.oauth, timeout=5)
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == 8001
    with pytest.raises(TumblrError) as refused:
        TumblrApi(tumblr_client, BLOG).create(payload, {"i0": b"GIF89a not a png"})
    assert (refused.value.status, refused.value.codes, refused.value.verdict) == (400, [8005], "refused")
    made = TumblrApi(tumblr_client, BLOG).create(payload, {"i0": draw_text_png("B")})
    assert fake_tumblr.posts[made].content[0]["media"][0]["width"] > 0
    assert int(answer.headers["X-Ratelimit-Perhour-Remaining"]) < 1000  # every answer carries the rate headers
