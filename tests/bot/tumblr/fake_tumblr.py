"""A loopback server that speaks the parts of the Tumblr v2 API glyphbot uses.

The real `pytumblr.TumblrRestClient(..., host=fake.host)` and glyphbot's own NPF multipart client run
against it unchanged, so the tests exercise real request building, OAuth1 signing and response
parsing. What it models, because each of these has bitten real bots:

- OAuth1 HMAC-SHA1 signatures are *verified* (not just checked for presence) with oauthlib's
  signature functions; a wrongly signed request gets Tumblr's 401 shape.
- Legacy endpoints pytumblr 0.1.2 calls (`/post` text and multipart photo upload with `data[0]`,
  `/post/edit`, `/post/reblog`, `/post/delete`, `/posts`, `/posts/queue`, `/posts/draft`, `/info`,
  dashboard) and the NPF ones (`POST /posts` multipart whose first part must be `json`,
  `GET`/`PUT /posts/{id}`). A reblog's NPF view carries the `trail` (oldest first) apart from its
  own `content`; its legacy view runs them together in one HTML body, as the legacy API does.
- A draft or queued post that gets published gets a new id (Tumblr's "genesis" id is the old one,
  which then answers 404), so nothing may find a published draft by the id it had as a draft.
- Limits: published posts per day (403 code 8023), uploaded images per day (403 code 8004), queue
  size (403 code 8022), each with the documented error body `{"meta", "response", "errors": [...]}`,
  plus `X-Ratelimit-*` headers on every answer and injectable 429s and gateway timeouts (the post is
  created but the client sees a 504, as in tumblr/docs issue 128).

State lives behind one lock because the server runs on its own thread's event loop while tests
inspect it from the main thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import itertools
import json
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from bot.tumblr.legacy import html_to_blocks

STATES = ("published", "queue", "draft", "private")
PAGE = 20  # the most posts a listing returns, whatever `limit` asks for


@dataclass
class Credentials:
    consumer_key: str = "test-consumer-key"
    consumer_secret: str = "test-consumer-secret"
    token: str = "test-token"
    token_secret: str = "test-token-secret"


@dataclass
class Limits:
    posts_per_day: int = 250
    uploads_per_day: int = 250
    queue_size: int = 1000


@dataclass
class Fault:
    """One injected failure: the next `times` requests matching method and path answer `status`.

    With `apply_first` the request takes effect before the failure is returned, like a gateway
    timeout that hides a post which was in fact created.
    """

    method: str
    path_pattern: str
    status: int
    code: int = 0
    times: int = 1
    apply_first: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Post:
    id: int
    blog: str
    state: str
    content: list[dict[str, Any]]
    tags: list[str]
    slug: str
    timestamp: int
    legacy_type: str = "text"
    trail: list[dict[str, Any]] = field(default_factory=list)  # NPF trail items of a reblog, oldest first
    genesis_id: int | None = None  # the id it had as a draft or queued post, before it was published

    def npf(self, host: str) -> dict[str, Any]:
        return {
            "object_type": "post", "type": "blocks", "id": self.id, "id_string": str(self.id),
            "blog_name": self.blog, "state": self.state, "tags": list(self.tags), "slug": self.slug,
            "timestamp": self.timestamp, "content": self.content, "layout": [], "trail": self.trail,
            "reblog_key": f"rk{self.id}", "post_url": f"{host}/{self.blog}/post/{self.id}/{self.slug}",
        }

    def legacy(self, host: str) -> dict[str, Any]:
        base = self.npf(host)
        base.pop("content"), base.pop("layout"), base.pop("trail")
        base["type"] = self.legacy_type
        if self.legacy_type == "answer":
            question, *answer = self.content
            base["question"], base["answer"] = question["text"], npf_to_html(answer)
        elif self.legacy_type == "photo":
            base["photos"] = [
                {"caption": "", "alt_sizes": [], "original_size": {k: m[k] for k in ("url", "width", "height")}}
                for block in self.content if block["type"] == "image" for m in block["media"][:1]
            ]
            base["caption"] = npf_to_html([block for block in self.content if block["type"] == "text"])
        else:
            base["body"] = npf_to_html([block for item in self.trail for block in item["content"]] + self.content)
        return base

    def trail_item(self) -> dict[str, Any]:
        """This post as an entry in the trail of a reblog of it."""
        return {"post": {"id": str(self.id)}, "blog": {"name": self.blog}, "content": self.content, "layout": []}


def npf_to_html(content: list[dict[str, Any]]) -> str:
    """How Tumblr renders NPF blocks into a legacy `body`: paragraphs and figures with alt text."""
    parts = []
    for block in content:
        if block["type"] == "text":
            parts.append(f"<p>{html.escape(block['text'])}</p>")
        elif block["type"] == "image":
            media = block["media"][0]
            alt = html.escape(block.get("alt_text", ""), quote=True)
            parts.append(
                f'<figure class="tmblr-full" data-orig-height="{media["height"]}" data-orig-width="{media["width"]}">'
                f'<img src="{media["url"]}" alt="{alt}"/></figure>'
            )
    return "".join(parts)


def legacy_body_to_npf(body: str) -> list[dict[str, Any]]:
    """How Tumblr stores a legacy HTML body. Reuses the adapter's converter: it is a format mapping,
    and the adapter's direction of it is tested on its own in test_reading.py."""
    return html_to_blocks(body)


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header; None when the bytes are not a PNG (Tumblr's 400.8005)."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", data[16:24])


def _error(status: int, msg: str, code: int = 0, detail: str = "", headers: dict[str, str] | None = None) -> web.Response:
    body = {"meta": {"status": status, "msg": msg}, "response": [],
            "errors": [{"title": msg, "code": code, "detail": detail or msg}]}
    return web.json_response(body, status=status, headers=headers)


def _ok(response: Any, status: int = 200, msg: str = "OK") -> web.Response:
    return web.json_response({"meta": {"status": status, "msg": msg}, "response": response}, status=status)


class FakeTumblr:
    """The server and its inspectable state. Use as a context manager; `host` goes to pytumblr."""

    def __init__(self, blog: str = "glyphbot-test", credentials: Credentials | None = None, limits: Limits | None = None):
        self.blog = blog
        self.credentials = credentials or Credentials()
        self.limits = limits or Limits()
        self.posts: dict[int, Post] = {}
        self.media: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.posts_today = 0
        self.uploads_today = 0
        self.lock = threading.Lock()
        self._ids = itertools.count(700_000_000_001)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.host = ""

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> "FakeTumblr":
        started = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runner = web.AppRunner(self._app())
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            port = self._runner.addresses[0][1]
            self.host = f"http://127.0.0.1:{port}"
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="fake-tumblr", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("fake Tumblr server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._runner is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # ----------------------------------------------------------------- test helpers
    def fail_next(self, method: str, path_pattern: str, status: int, code: int = 0, times: int = 1,
                  apply_first: bool = False, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.faults.append(Fault(method.upper(), path_pattern, status, code, times, apply_first, headers or {}))

    def add_post(self, content: list[dict[str, Any]], state: str = "published", tags: list[str] | None = None,
                 slug: str = "", legacy_type: str = "text") -> Post:
        """Put a post in place directly, as if another client (or an asker: legacy type "answer",
        state "submission", first block the question) had made it."""
        with self.lock:
            return self._store(content, state, tags or [], slug, legacy_type)

    def upload_media(self, data: bytes) -> dict[str, Any]:
        """Host an image as Tumblr's media server would; returns the NPF media object (url, size)."""
        with self.lock:
            media = self._upload(data)
        assert isinstance(media, dict), "not a PNG"
        return media

    def new_day(self) -> None:
        """Tumblr's daily limits reset at the calendar day; tests move the day forward by hand."""
        with self.lock:
            self.posts_today = self.uploads_today = 0

    def post_by_genesis(self, genesis_id: int) -> Post:
        """The post that had this id as a draft (the same id when it was never published since)."""
        with self.lock:
            return next(p for p in self.posts.values() if genesis_id in (p.id, p.genesis_id))

    def posts_in(self, state: str) -> list[Post]:
        with self.lock:
            return [p for p in self.posts.values() if p.state == state]

    # ----------------------------------------------------------------- internals
    def _store(self, content: list[dict[str, Any]], state: str, tags: list[str], slug: str, legacy_type: str = "text") -> Post:
        post_id = next(self._ids)
        post = Post(post_id, self.blog, state, content, tags, slug or f"post-{post_id}", int(time.time()), legacy_type)
        self.posts[post_id] = post
        return post

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        b = "/v2/blog/{blog}"
        app.router.add_get("/v2/user/info", self._user_info)
        app.router.add_get("/v2/user/dashboard", self._dashboard)
        app.router.add_get(b + "/info", self._blog_info)
        app.router.add_get(b + "/posts", self._list_posts)
        app.router.add_get(b + "/posts/queue", self._list_posts)
        app.router.add_get(b + "/posts/draft", self._list_posts)
        app.router.add_get(b + "/posts/submission", self._list_posts)
        app.router.add_get(b + r"/posts/{id:\d+}", self._npf_fetch)
        app.router.add_put(b + r"/posts/{id:\d+}", self._npf_edit)
        app.router.add_get(b + "/posts/{type}", self._list_posts)
        app.router.add_post(b + "/posts", self._npf_create)
        app.router.add_post(b + "/post", self._legacy_create)
        app.router.add_post(b + "/post/edit", self._legacy_edit)
        app.router.add_post(b + "/post/reblog", self._legacy_reblog)
        app.router.add_post(b + "/post/delete", self._legacy_delete)
        app.router.add_get("/media/{name}", self._media)
        return app

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-Ratelimit-Perday-Limit": "5000", "X-Ratelimit-Perday-Remaining": str(max(0, 5000 - len(self.requests))),
            "X-Ratelimit-Perday-Reset": "86400", "X-Ratelimit-Perhour-Limit": "1000",
            "X-Ratelimit-Perhour-Remaining": str(max(0, 1000 - len(self.requests))), "X-Ratelimit-Perhour-Reset": "3600",
        }

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/media/"):
            return await handler(request)
        # Only a form-encoded body is part of the OAuth1 signature; reading a multipart body here
        # would consume the stream the handler needs.
        body = await request.read() if request.content_type == "application/x-www-form-urlencoded" else b""
        with self.lock:
            self.requests.append((request.method, request.path))
        if not self._signature_valid(request, body):
            return _error(401, "Unauthorized", detail="OAuth signature missing or invalid")
        if "blog" in request.match_info:
            name = request.match_info["blog"].removesuffix(".tumblr.com")
            if name != self.blog:
                return _error(404, "Not Found", detail=f"no blog {name}")
        fault = self._take_fault(request)
        if fault is not None and not fault.apply_first:
            return self._fault_response(fault)
        response = await handler(request)
        if fault is not None:
            return self._fault_response(fault)
        for key, value in self._rate_headers().items():
            response.headers[key] = value
        return response

    def _take_fault(self, request: web.Request) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.method == request.method and re.search(fault.path_pattern, request.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return fault
        return None

    def _fault_response(self, fault: Fault) -> web.Response:
        messages = {429: "Limit Exceeded", 403: "Forbidden", 500: "Internal Server Error", 503: "Service Unavailable",
                    504: "Gateway Timeout", 400: "Bad Request"}
        if fault.status == 504:
            return web.Response(status=504, text="<html><body>504 Gateway Time-out</body></html>", content_type="text/html")
        return _error(fault.status, messages.get(fault.status, "Error"), fault.code, headers={**self._rate_headers(), **fault.headers})

    def _signature_valid(self, request: web.Request, body: bytes) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("OAuth "):
            return False
        fields = dict(
            (key.strip(), unquote(value.strip().strip('"')))
            for key, _, value in (item.partition("=") for item in header[len("OAuth "):].split(","))
        )
        creds = self.credentials
        if (fields.get("oauth_consumer_key") != creds.consumer_key or fields.get("oauth_token") != creds.token
                or fields.get("oauth_signature_method") != "HMAC-SHA1" or "oauth_signature" not in fields):
            return False
        form_body = body.decode("utf-8", "replace") if request.content_type == "application/x-www-form-urlencoded" else None
        try:
            params = oauth_signature.collect_parameters(uri_query=request.rel_url.raw_query_string, body=form_body,
                                                        headers={"Authorization": header}, exclude_oauth_signature=True)
        except ValueError:
            return False  # a query or body that is not form-encoded cannot have been signed
        base = oauth_signature.signature_base_string(
            request.method, oauth_signature.base_string_uri(str(request.url)), oauth_signature.normalize_parameters(params))
        expected = oauth_signature.sign_hmac_sha1(base, creds.consumer_secret, creds.token_secret)
        return oauth_signature.safe_string_equals(expected, fields["oauth_signature"])

    def _blog_json(self) -> dict[str, Any]:
        counts = {s: sum(1 for p in self.posts.values() if p.state == s) for s in STATES}
        return {"name": self.blog, "title": self.blog, "uuid": f"t:{self.blog}", "url": f"{self.host}/{self.blog}/",
                "posts": counts["published"], "queue": counts["queue"], "drafts": counts["draft"]}

    def _upload(self, data: bytes) -> dict[str, Any] | web.Response:
        size = png_size(data)
        if size is None:
            return _error(400, "Bad Request", 8005, "uploaded media is not an image we accept")
        name = hashlib.sha256(data).hexdigest()[:32] + ".png"
        self.media[name] = data
        self.uploads_today += 1
        return {"url": f"{self.host}/media/{name}", "type": "image/png", "width": size[0], "height": size[1]}

    def _set_state(self, post: Post, state: str) -> None:
        """Change a post's state; publishing a draft or queued post gives it a new id, as Tumblr does."""
        if state == "published" and post.state != "published":
            self.posts_today += 1
            del self.posts[post.id]
            post.genesis_id, post.id = post.id, next(self._ids)
            self.posts[post.id] = post
        post.state = state

    def _check_limits(self, state: str, images: int, was_published: bool = False) -> web.Response | None:
        """Tumblr's per-day and queue limits, answered with the documented 403 subcodes."""
        if state == "published" and not was_published and self.posts_today >= self.limits.posts_per_day:
            return _error(403, "Forbidden", 8023, "daily posting limit reached")
        if images and self.uploads_today + images > self.limits.uploads_per_day:
            return _error(403, "Forbidden", 8004, "cannot upload more media today")
        if state == "queue" and sum(1 for p in self.posts.values() if p.state == "queue") >= self.limits.queue_size:
            return _error(403, "Forbidden", 8022, "queue limit reached")
        return None

    # ----------------------------------------------------------------- handlers
    async def _user_info(self, request: web.Request) -> web.Response:
        with self.lock:
            return _ok({"user": {"name": self.blog, "blogs": [self._blog_json()]}})

    async def _blog_info(self, request: web.Request) -> web.Response:
        with self.lock:
            return _ok({"blog": self._blog_json()})

    def _post_json(self, post: Post, npf: bool) -> dict[str, Any]:
        return post.npf(self.host) if npf else post.legacy(self.host)

    async def _list_posts(self, request: web.Request) -> web.Response:
        query = request.query
        tail = request.path.rsplit("/", 1)[-1]
        state = {"queue": "queue", "draft": "draft", "submission": "submission"}.get(tail, "published")
        post_type = request.match_info.get("type")
        npf = query.get("npf", "").lower() == "true"
        limit, offset = min(int(query.get("limit", 20)), PAGE), int(query.get("offset", 0))
        with self.lock:
            # newest first, except the queue: it lists what publishes next first, so a post just
            # queued is on its last page
            posts = sorted((p for p in self.posts.values() if p.state == state),
                           key=lambda p: p.id if state == "queue" else -p.id)
            if "id" in query:
                posts = [p for p in posts if p.id == int(query["id"])]
            if "before_id" in query:  # how drafts are paged (they take no offset)
                posts = [p for p in posts if p.id < int(query["before_id"])]
            if "tag" in query:
                posts = [p for p in posts if query["tag"] in p.tags]
            if post_type:
                posts = [p for p in posts if p.legacy_type == post_type]
            page = [self._post_json(p, npf) for p in posts[offset:offset + limit]]
            return _ok({"blog": self._blog_json(), "posts": page, "total_posts": len(posts)})

    async def _dashboard(self, request: web.Request) -> web.Response:
        npf = request.query.get("npf", "").lower() == "true"
        with self.lock:
            posts = sorted((p for p in self.posts.values() if p.state == "published"), key=lambda p: -p.id)
            return _ok({"posts": [self._post_json(p, npf) for p in posts[: int(request.query.get("limit", 20))]]})

    async def _npf_fetch(self, request: web.Request) -> web.Response:
        with self.lock:
            post = self.posts.get(int(request.match_info["id"]))
            if post is None:
                return _error(404, "Not Found", detail="no such post")
            return _ok(self._post_json(post, request.query.get("post_format", "npf") == "npf"))

    async def _read_npf_request(self, request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]] | web.Response:
        """The NPF body: JSON, or multipart whose FIRST part is `json` and the rest media by identifier."""
        if request.content_type == "application/json":
            return await request.json(), {}
        if request.content_type != "multipart/form-data":
            return _error(400, "Bad Request", 8001, "NPF needs a JSON or multipart body")
        reader = await request.multipart()
        first = await reader.next()
        if first is None or first.name != "json":  # type: ignore[union-attr]
            return _error(400, "Bad Request", 8001, "the first multipart part must be `json`")
        payload = json.loads(await first.text())  # type: ignore[union-attr]
        media: dict[str, bytes] = {}
        while (part := await reader.next()) is not None:
            media[part.name or ""] = bytes(await part.read())  # type: ignore[union-attr]
        return payload, media

    def _resolve_media(self, content: Any, media: dict[str, bytes]) -> list[dict[str, Any]] | web.Response:
        if not isinstance(content, list):
            return _error(400, "Bad Request", 8001, "'content' must be an array")
        resolved = []
        for block in content:
            block = dict(block)
            if block.get("type") == "image":
                items = []
                for item in block.get("media", []):
                    if "identifier" in item:
                        if item["identifier"] not in media:
                            return _error(400, "Bad Request", 8001, f"no media part named {item['identifier']}")
                        uploaded = self._upload(media[item["identifier"]])
                        if isinstance(uploaded, web.Response):
                            return uploaded
                        items.append(uploaded)
                    else:
                        items.append(item)
                block["media"] = items
            elif block.get("type") != "text":
                return _error(400, "Bad Request", 8001, f"unsupported block type {block.get('type')!r}")
            resolved.append(block)
        return resolved

    async def _npf_create(self, request: web.Request) -> web.Response:
        parsed = await self._read_npf_request(request)
        if isinstance(parsed, web.Response):
            return parsed
        payload, media = parsed
        state = payload.get("state", "published")
        with self.lock:
            if (limited := self._check_limits(state, len(media))) is not None:
                return limited
            content = self._resolve_media(payload.get("content"), media)
            if isinstance(content, web.Response):
                return content
            tags = [t.strip() for t in payload.get("tags", "").split(",") if t.strip()]
            post = self._store(content, state, tags, payload.get("slug", ""))
            self.posts_today += state == "published"
            return _ok({"id": str(post.id)}, 201, "Created")

    async def _npf_edit(self, request: web.Request) -> web.Response:
        parsed = await self._read_npf_request(request)
        if isinstance(parsed, web.Response):
            return parsed
        payload, media = parsed
        with self.lock:
            post = self.posts.get(int(request.match_info["id"]))
            if post is None:
                return _error(404, "Not Found", detail="no such post")
            if post.legacy_type != "text":
                return _error(400, "Bad Request", 8001, "only NPF posts and legacy text posts can be edited as NPF")
            state = payload.get("state", post.state)
            if (limited := self._check_limits(state, len(media), was_published=post.state == "published")) is not None:
                return limited
            content = self._resolve_media(payload.get("content"), media)
            if isinstance(content, web.Response):
                return content
            post.content = content
            self._set_state(post, state)
            post.tags = [t.strip() for t in payload.get("tags", "").split(",") if t.strip()]
            post.slug = payload.get("slug") or post.slug
            return _ok({"id": str(post.id)})

    async def _legacy_create(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {**request.query, **{k: v for k, v in form.items() if isinstance(v, str)}}
        files = [v.file.read() for k, v in form.items() if isinstance(v, web.FileField) and k.startswith("data")]
        state = fields.get("state", "published")
        tags = [t.strip() for t in fields.get("tags", "").split(",") if t.strip()]
        with self.lock:
            if (limited := self._check_limits(state, len(files))) is not None:
                return limited
            if fields.get("type") == "photo":
                if not files:
                    return _error(400, "Bad Request", detail="photo post needs data")
                blocks: list[dict[str, Any]] = []
                for data in files:
                    uploaded = self._upload(data)
                    if isinstance(uploaded, web.Response):
                        return uploaded
                    blocks.append({"type": "image", "media": [uploaded], "alt_text": ""})
                blocks += legacy_body_to_npf(fields.get("caption", ""))
                post = self._store(blocks, state, tags, fields.get("slug", ""), legacy_type="photo")
            elif fields.get("type") == "text":
                post = self._store(legacy_body_to_npf(fields.get("body", "")), state, tags, fields.get("slug", ""))
            else:
                return _error(400, "Bad Request", detail=f"unsupported legacy type {fields.get('type')!r}")
            self.posts_today += state == "published"
            return _ok({"id": post.id, "id_string": str(post.id)}, 201, "Created")

    async def _legacy_edit(self, request: web.Request) -> web.Response:
        fields = dict(parse_qsl((await request.read()).decode())) or dict(await request.post())
        with self.lock:
            post = self.posts.get(int(fields.get("id", 0)))
            if post is None:
                return _error(404, "Not Found", detail="no such post")
            state = str(fields.get("state", post.state))
            if (limited := self._check_limits(state, 0, was_published=post.state == "published")) is not None:
                return limited
            self._set_state(post, state)
            if "tags" in fields:
                post.tags = [t.strip() for t in str(fields["tags"]).split(",") if t.strip()]
            if "body" in fields:
                post.content = legacy_body_to_npf(str(fields["body"]))
            return _ok({"id": post.id})

    async def _legacy_reblog(self, request: web.Request) -> web.Response:
        fields = dict(parse_qsl((await request.read()).decode()))
        state = fields.get("state", "published")
        with self.lock:
            parent = self.posts.get(int(fields.get("id", 0)))
            if parent is None or fields.get("reblog_key") != f"rk{parent.id}":
                return _error(400, "Bad Request", detail="no post with that id and reblog key")
            if (limited := self._check_limits(state, 0)) is not None:
                return limited
            post = self._store(legacy_body_to_npf(fields.get("comment", "")), state, [], "")
            post.trail = parent.trail + [parent.trail_item()]
            self.posts_today += state == "published"
            return _ok({"id": post.id, "id_string": str(post.id)}, 201, "Created")

    async def _legacy_delete(self, request: web.Request) -> web.Response:
        fields = dict(parse_qsl((await request.read()).decode()))
        with self.lock:
            if self.posts.pop(int(fields.get("id", 0)), None) is None:
                return _error(404, "Not Found", detail="no such post")
            return _ok({"id": int(fields["id"])})

    async def _media(self, request: web.Request) -> web.Response:
        with self.lock:
            data = self.media.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")
