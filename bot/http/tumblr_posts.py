"""Posts for the Tumblr autoresponder over the JSON API: `POST /tumblr/posts` and `GET /tumblr/posts/{id}`.

The API only records a post (`bot.tumblr.autoresponder.record_post`, the same entry the CLI uses);
the autoresponder (`glyphbot tumblr run` or `glyphbot serve`) draws its images and publishes it, so a
post can be sent while the bot or the workers are down. The idempotency key is required here, unlike
for jobs: a job drawn twice costs GPU time, a post published twice is seen by every follower.
Post keys are `http:<client>:<key>`: per client, like job keys, and since client names have no colon,
a key's owner can be read back from it.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from sqlalchemy import select

from bot.http.api import PREFIX, api
from bot.http.endpoints import ApiClient, Call, Response, json_response
from bot.http.errors import ApiError, not_found
from bot.http.schemas import ErrorBody, SubmitTumblrPost, TumblrImageView, TumblrPostPath, TumblrPostView
from bot.http.services import services
from bot.tumblr.autoresponder import record_post
from bot.tumblr.content import Block, text_to_blocks
from bot.tumblr.models import TumblrPostRow
from config.settings import TumblrSettings
from storage.db import Database

KEY_PREFIX = "http"


def post_key(client: str, idempotency_key: str) -> str:
    return f"{KEY_PREFIX}:{client}:{idempotency_key}"


def _visible(client: ApiClient, row: TumblrPostRow) -> bool:
    return "moderate" in client.scopes or row.post_key.startswith(post_key(client.client, ""))


# --- blocking work, run in threads ---------------------------------------------------------------------


def _load(db: Database, **where: object) -> TumblrPostRow | None:
    with db.read() as session:
        row = session.scalars(select(TumblrPostRow).filter_by(**where)).first()
        if row is not None:
            row.images  # loaded now: the row leaves the session
        return row


def store_post(db: Database, settings: TumblrSettings, key: str, content: list[Block], tags: list[str],
               state: str) -> tuple[TumblrPostRow, bool]:
    """The post stored under `key` and whether this call created it; ValueError for a post the
    autoresponder refuses (its message says what and where)."""
    created = record_post(db, settings, settings.blog, key, content, tags, state) is not None
    row = _load(db, post_key=key)
    if row is None:  # recorded or found a moment ago; only a deleted row can get here
        raise LookupError(f"Tumblr post {key!r} vanished while it was being stored")
    return row, created


def _same_post(row: TumblrPostRow, content: list[Block], tags: list[str], state: str) -> bool:
    return (json.loads(row.content_json), json.loads(row.tags_json), row.target_state) == (content, tags, state)


# --- views -----------------------------------------------------------------------------------------------


def post_view(row: TumblrPostRow) -> TumblrPostView:
    own_key = row.post_key.split(":", 2)[2] if row.post_key.startswith(KEY_PREFIX + ":") else None
    return TumblrPostView(
        id=row.id, status=row.status, held=row.held_reason is not None, held_reason=row.held_reason,
        waiting_reason=row.reason, retry_at=row.retry_at, target_state=row.target_state,
        tags=json.loads(row.tags_json), idempotency_key=own_key,
        images=[TumblrImageView(block=image.block_index, text=image.text, caption=image.caption,
                                ready=image.image_sha256 is not None) for image in row.images],
        tumblr_post_id=row.tumblr_post_id, published_state=row.published_state,
        created_at=row.created_at, updated_at=row.updated_at, published_at=row.published_at,
        links={"self": f"{PREFIX}/tumblr/posts/{row.id}"},
    )


def _refusal(error: ValueError, body: SubmitTumblrPost) -> ApiError:
    """record_post's ValueError as a 422 naming the field it is about."""
    message = str(error)
    if message.startswith(("tag ", "a tag ")):
        loc = "body.tags"
    elif message.startswith("target state"):
        loc = "body.state"
    else:
        loc = "body.content" if body.content is not None else "body.text"
    return ApiError(422, "validation_error", f"{loc}: {message}", details=[{"loc": loc, "msg": message}])


# --- endpoints ---------------------------------------------------------------------------------------


@api.route("POST", "/tumblr/posts", summary="Submit a Tumblr post", scope="submit", body_model=SubmitTumblrPost,
           tags=("tumblr",), responses={
               201: Response("Recorded; the autoresponder draws its images and publishes it. `held` says whether "
                             "it will only be saved to drafts, and `held_reason` why.", TumblrPostView),
               200: Response("A post with this idempotency key already exists; it is returned as it stands now.",
                             TumblrPostView),
               409: Response("This idempotency key was used for a different post.", ErrorBody),
               503: Response("The Tumblr autoresponder is not configured (no `tumblr.blog`), or the database is down.",
                             ErrorBody),
           })
async def submit_tumblr_post(request: web.Request, call: Call) -> web.Response:
    """Record a post for the Tumblr autoresponder: its text with `=======` image blocks (or NPF blocks), tags
    and where it goes. Each block becomes a generated image with the transcript as alt text. Sending the
    same `idempotency_key` again returns the first post (200), never a second one."""
    svc, body = services(request), call.body
    settings = svc.tumblr
    if settings is None or not settings.blog:
        raise ApiError(503, "tumblr_not_configured", "the Tumblr autoresponder is not configured on this server: "
                       "set tumblr.blog (GLYPHBOT_TUMBLR__BLOG) and restart it")
    content = text_to_blocks(body.text) if body.text is not None else [
        block.model_dump(exclude_unset=True) for block in body.content]
    state = body.state or settings.default_state
    try:
        row, created = await asyncio.to_thread(store_post, svc.db, settings,
                                               post_key(call.client.client, body.idempotency_key), content, body.tags, state)
    except ValueError as error:
        raise _refusal(error, body) from None
    if not created and not _same_post(row, content, body.tags, state):
        raise ApiError(409, "idempotency_conflict", "this idempotency key was already used for a different post")
    view = post_view(row)
    return json_response(view, 201 if created else 200, headers={"Location": view.links["self"]} if created else None)


@api.route("GET", "/tumblr/posts/{post_id}", summary="Tumblr post status", scope="read", path_model=TumblrPostPath,
           tags=("tumblr",), responses={200: Response("The post and where it stands.", TumblrPostView)})
async def get_tumblr_post(request: web.Request, call: Call) -> web.Response:
    """Where the post stands: images being drawn, waiting (why and until when), publishing, published
    (with the Tumblr post id), or held for a moderator (with the reason)."""
    post_id = call.path.post_id
    row = await asyncio.to_thread(_load, services(request).db, id=post_id)
    if row is None or not _visible(call.client, row):
        raise not_found(f"Tumblr post {post_id}")
    return json_response(post_view(row))
