"""Posts for the Tumblr autoresponder over the JSON API: real aiohttp server, real storage (SQLite and
PostgreSQL). `test_tumblr_publish.py` follows one post on to the loopback Tumblr."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from bot.tumblr.content import text_to_blocks
from config.settings import TumblrSettings
from tests.bot.tumblr.test_autoresponder import POST

POSTS = "/api/v1/tumblr/posts"


async def send(client: TestClient, headers: dict, **body) -> tuple[int, dict]:
    reply = await client.post(POSTS, json=body, headers=headers)
    return reply.status, await reply.json()


async def view(client: TestClient, headers: dict, post_id: int) -> tuple[int, dict]:
    reply = await client.get(f"{POSTS}/{post_id}", headers=headers)
    return reply.status, await reply.json()


async def test_a_text_post_is_stored_with_one_image_per_block(client: TestClient, keys: dict) -> None:
    reply = await client.post(POSTS, json={"text": POST, "tags": ["art", "cats"], "state": "queue",
                                           "idempotency_key": "post-1"}, headers=keys["alpha_submit"])
    stored = await reply.json()
    assert reply.status == 201, stored
    assert reply.headers["Location"] == f"{POSTS}/{stored['id']}" == stored["links"]["self"]
    assert (stored["status"], stored["held"], stored["held_reason"]) == ("pending", False, None)
    assert (stored["target_state"], stored["tags"], stored["idempotency_key"]) == ("queue", ["art", "cats"], "post-1")
    assert [(i["block"], i["text"], i["caption"], i["ready"]) for i in stored["images"]] == [
        (0, "OPEN\nLATE", None, False), (1, "SALE", "a shop sign", False)]
    assert stored["tumblr_post_id"] is None and stored["published_state"] is None
    status, seen = await view(client, keys["alpha_read"], stored["id"])
    assert status == 200 and seen == stored


async def test_npf_blocks_and_the_default_state(client: TestClient, keys: dict, tumblr_config: TumblrSettings) -> None:
    content = [{"type": "text", "text": "look", "subtype": "heading1"}, {"type": "text", "text": "======="},
               {"type": "text", "text": "HI"}, {"type": "text", "text": "======="},
               {"type": "link", "url": "https://example.com", "title": "elsewhere"}]
    status, stored = await send(client, keys["alpha"], content=content, idempotency_key="npf")
    assert status == 201, stored
    assert stored["target_state"] == tumblr_config.default_state and stored["tags"] == []
    assert [i["text"] for i in stored["images"]] == ["HI"]


async def test_a_malformed_transcript_is_held_with_the_reason_not_refused(client: TestClient, keys: dict) -> None:
    status, stored = await send(client, keys["alpha"], text="prose\n=======\nNEVER CLOSED", idempotency_key="bad-block")
    assert status == 201, stored
    assert stored["held"] is True and stored["held_reason"].startswith("malformed image transcript")
    assert stored["images"] == []


async def test_same_key_returns_the_same_post_and_a_different_post_conflicts(client: TestClient, keys: dict) -> None:
    first_status, first = await send(client, keys["alpha"], text="one\n=======\nA\n=======", idempotency_key="k")
    again_status, again = await send(client, keys["alpha_submit"], text="one\n=======\nA\n=======", idempotency_key="k")
    assert (first_status, again_status) == (201, 200) and again == first
    # the same text as NPF blocks is the same post
    same_status, same = await send(client, keys["alpha"], content=text_to_blocks("one\n=======\nA\n======="),
                                   idempotency_key="k")
    assert same_status == 200 and same["id"] == first["id"]
    for changed in ({"text": "two"}, {"text": "one\n=======\nA\n=======", "tags": ["x"]},
                    {"text": "one\n=======\nA\n=======", "state": "draft"}):
        status, error = await send(client, keys["alpha"], idempotency_key="k", **changed)
        assert status == 409 and error["error"] == "idempotency_conflict", changed
    # keys are per client: beta's "k" is its own post
    status, beta = await send(client, keys["beta"], text="one\n=======\nA\n=======", idempotency_key="k")
    assert status == 201 and beta["id"] != first["id"]


async def test_bad_posts_get_precise_422s(client: TestClient, keys: dict) -> None:
    cases = [
        ({"text": "x", "content": [{"type": "text", "text": "x"}]}, "body", "exactly one of `text` or `content`"),
        ({"tags": ["a"]}, "body", "exactly one of `text` or `content`"),
        ({"text": "x", "tags": ["a,b"]}, "body.tags.0", "pattern"),
        ({"text": "x", "tags": ["  "]}, "body.tags.0", "pattern"),
        ({"text": "x", "state": "later"}, "body.state", "'published', 'queue' or 'draft'"),
        ({"text": "x", "state": None}, "body.state", "leave the field out instead of sending null"),
        ({"text": None, "content": [{"type": "text", "text": "x"}]}, "body.text", "instead of sending null"),
        ({"text": "A\x00B"}, "body.text", "pattern"),
        ({"text": 5}, "body.text", "valid string"),
        ({"content": "just text"}, "body.content", "valid list"),
        ({"content": [{"text": "x"}]}, "body.content.0.type", "Field required"),
        ({"content": [{"type": "text", "text": None}]}, "body.content.0.text", "instead of sending null"),
        ({"content": [{"type": "text", "text": 3}]}, "body.content.0.text", "valid string"),
        ({"content": [{"type": "text"}]}, "body.content", "block 0: text must be a string"),
        ({"text": "x", "colour": "red"}, "body.colour", "allowed: text, content, tags, state, idempotency_key"),
    ]
    for body, loc, words in cases:
        status, error = await send(client, keys["alpha"], **{"idempotency_key": "refused", **body})
        assert status == 422, (body, error)
        assert any(d["loc"] == loc and words in d["msg"] for d in error["details"]), (body, error)
    status, error = await send(client, keys["alpha"], text="x")
    assert status == 422 and error["details"][0]["loc"] == "body.idempotency_key" and "required" in error["message"]
    status, error = await send(client, keys["alpha"], text="x", idempotency_key="k" * 81)
    assert status == 422 and "at most 80" in error["message"]
    status, _ = await send(client, keys["alpha"], text="nothing was lost", idempotency_key="refused")
    assert status == 201  # none of the refused bodies was stored under the key


async def test_scopes_and_other_clients(client: TestClient, keys: dict) -> None:
    status, error = await send(client, keys["alpha_read"], text="x", idempotency_key="k")
    assert status == 403 and "`submit` scope" in error["message"]
    _, stored = await send(client, keys["alpha"], text="mine", idempotency_key="k")
    status, error = await view(client, keys["alpha_submit"], stored["id"])
    assert status == 403 and "`read` scope" in error["message"]
    status, error = await view(client, keys["beta"], stored["id"])
    assert status == 404 and error["message"] == f"Tumblr post {stored['id']} not found"  # like one that does not exist
    assert (await view(client, keys["beta"], stored["id"] + 1000))[1] == {
        **error, "message": f"Tumblr post {stored['id'] + 1000} not found"}
    status, seen = await view(client, keys["mod"], stored["id"])
    assert status == 200 and seen["id"] == stored["id"]
    status, error = await view(client, keys["alpha"], 0)
    assert status == 404 and error["details"][0]["loc"] == "path.post_id"


@pytest.mark.parametrize("tumblr_config", [None, TumblrSettings(blog="")])
async def test_503_when_the_autoresponder_is_not_configured(client: TestClient, keys: dict) -> None:
    status, error = await send(client, keys["alpha"], text="x", idempotency_key="k")
    assert status == 503 and error["error"] == "tumblr_not_configured"
    assert "tumblr.blog" in error["message"] and "GLYPHBOT_TUMBLR__BLOG" in error["message"]
