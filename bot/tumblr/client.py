"""Talking to Tumblr: pytumblr for what it speaks, NPF multipart on pytumblr's own request object for the rest.

Why NPF (one multipart `POST /posts`, or `PUT /posts/{id}` for a draft edited in place) and not the
legacy pair "create_photo, then create_text with <figure><img></figure>":

- One request makes the whole post, images included, so there is no half-done state to recover
  (the legacy way leaves photo posts behind whenever a crash lands between its requests, and every
  one of those photo posts counts against the 250 posts/day).
- `alt_text` is a field of the NPF image block; in the legacy way it survives only if Tumblr keeps
  the `alt` attribute while converting the HTML body.
- The draft the text generator wrote can be turned into the finished post by editing it, which is
  idempotent: sending the same edit twice never makes a second post.

pytumblr 0.1.2 has no NPF call, so the multipart request is built here, but it reuses the client's
`TumblrRequest` (host, OAuth1 signer, User-Agent) so both paths sign and address requests the same
way. pytumblr is synchronous (requests): callers run all of this off the event loop.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import pytumblr
import requests

from config.settings import TumblrSettings, read_secret_file

CREDENTIAL_KEYS = ("consumer_key", "consumer_secret", "oauth_token", "oauth_secret")
REQUEST_TIMEOUT_S = 60.0
LISTING_PAGE = 20  # the most posts one listing request returns
MAX_QUEUE_PAGES = 100  # a queue holds up to 1,000 posts (2,000 with Premium)

Verdict = Literal["wait", "uncertain", "refused"]


class TumblrCredentialsMissing(RuntimeError):
    """The OAuth1 credentials are in neither the environment nor the credentials file."""


def client_from_settings(settings: TumblrSettings) -> pytumblr.TumblrRestClient:
    """A pytumblr client from the `[tumblr]` secrets (GLYPHBOT_TUMBLR__* variables) or `credentials_file`.

    The file is JSON with the same four keys. Values are never logged or put in error messages.
    """
    values = {key: getattr(settings, key).get_secret_value() if getattr(settings, key) else "" for key in CREDENTIAL_KEYS}
    if settings.credentials_file is not None:
        raw = read_secret_file(settings.credentials_file, "tumblr.credentials_file")  # SettingsError names the problem
        try:
            stored = json.loads(raw)
            if not isinstance(stored, dict):
                raise ValueError("not an object")
        except ValueError as error:  # the message must not quote the file: it holds secrets
            raise TumblrCredentialsMissing(f"tumblr.credentials_file {settings.credentials_file} is not a JSON object "
                                           f"with {', '.join(CREDENTIAL_KEYS)} ({type(error).__name__})") from None
        values.update({key: str(stored[key]) for key in CREDENTIAL_KEYS if stored.get(key) and not values[key]})
    missing = [key for key in CREDENTIAL_KEYS if not values[key]]
    if missing:
        names = ", ".join(f"GLYPHBOT_TUMBLR__{key.upper()}" for key in missing)
        raise TumblrCredentialsMissing(f"Tumblr credentials missing: set {names} or tumblr.credentials_file")
    return pytumblr.TumblrRestClient(*(values[key] for key in CREDENTIAL_KEYS), host=settings.api_host)


@dataclass
class TumblrError(Exception):
    """Tumblr answered with an error, or could not be reached (status 0).

    `verdict` says what the adapter does next: `wait` (a limit or a transient refusal: nothing was
    made, try later), `uncertain` (the request may have taken effect: look before retrying) or
    `refused` (this post will never be accepted as it is: hold it for a moderator).
    """

    status: int
    codes: list[int] = field(default_factory=list)
    detail: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        codes = "/".join(str(c) for c in self.codes if c)
        return f"Tumblr {self.status}{'.' + codes if codes else ''}: {self.detail}".strip()

    @property
    def verdict(self) -> Verdict:
        if self.status == 0 or self.status >= 500:
            return "uncertain"
        if self.status in (401, 429) or (self.status == 403 and {8004, 8022, 8023} & set(self.codes)):
            return "wait"
        return "refused"


def _raise_for_error(result: Any, headers: dict[str, str] | None = None) -> Any:
    """pytumblr returns error bodies as dicts instead of raising; turn them into TumblrError."""
    if isinstance(result, dict) and isinstance(result.get("meta"), dict):
        status = int(result["meta"].get("status", 500))
        if status >= 400:
            errors = result.get("errors") or []
            if isinstance(result.get("response"), dict):
                errors = errors or result["response"].get("errors", [])
            codes = [int(e.get("code", 0)) for e in errors if isinstance(e, dict)]
            detail = "; ".join(str(e.get("detail") or e.get("title") or e) if isinstance(e, dict) else str(e) for e in errors)
            raise TumblrError(status, codes, detail or str(result["meta"].get("msg", "")), headers or {})
    return result


class TumblrApi:
    """The calls the adapter makes, all synchronous, all raising TumblrError on failure."""

    def __init__(self, client: pytumblr.TumblrRestClient, blog: str) -> None:
        self.client = client
        self.blog = blog

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return _raise_for_error(getattr(self.client, method)(*args, **kwargs))
        except requests.RequestException as error:
            raise TumblrError(0, [], f"cannot reach Tumblr: {type(error).__name__}") from error

    def drafts(self, before_id: int | None = None) -> list[dict[str, Any]]:
        """One page of the blog's drafts in NPF (one text block per paragraph), newest first; with
        `before_id`, the page of drafts older than that one (pytumblr 0.1.2's `drafts` cannot page)."""
        params: dict[str, Any] = {"npf": "true"} if before_id is None else {"npf": "true", "before_id": before_id}
        path = f"/v2/blog/{self.blog}/posts/draft"
        return list(self._call("send_api_request", "get", path, params, list(params)).get("posts", []))

    def queue_size(self) -> int:
        return int(self._call("blog_info", self.blog)["blog"].get("queue", 0))

    def find_by_slug(self, slug: str) -> tuple[int, str] | None:
        """(post id, state) of our post with this slug among recent published posts, the drafts and the queue.

        New published posts and drafts come first in their listings, so one page of each is enough;
        the queue lists what publishes next first, so a post just queued is on its last page: the
        whole queue is paged (up to 1,000 posts, 50 requests; only ever after an unanswered request).
        """
        def queue_pages() -> Iterator[dict[str, Any]]:
            for offset in range(0, MAX_QUEUE_PAGES * LISTING_PAGE, LISTING_PAGE):
                page = self._call("queue", self.blog, limit=LISTING_PAGE, offset=offset).get("posts", [])
                yield from page
                if len(page) < LISTING_PAGE:
                    return

        listings: tuple[tuple[str, Callable[[], Iterable[dict[str, Any]]]], ...] = (
            ("published", lambda: self._call("posts", self.blog, limit=LISTING_PAGE).get("posts", [])),
            ("draft", lambda: self.drafts()),
            ("queue", queue_pages))
        for state, fetch in listings:
            for post in fetch():
                if post.get("slug") == slug:
                    return int(post["id"]), state
        return None

    def fetch(self, post_id: int) -> dict[str, Any] | None:
        """One of the blog's posts in NPF (state, slug, tags, content), None when it is gone."""
        try:
            return dict(self._call("send_api_request", "get", f"/v2/blog/{self.blog}/posts/{post_id}", {}, []))
        except TumblrError as error:
            if error.status == 404:
                return None
            raise

    def dashboard(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest dashboard posts in NPF, so a reblog's trail comes apart from its own content.

        pytumblr 0.1.2's `dashboard` refuses the `npf` parameter, hence its generic request call.
        """
        params = {"limit": limit, "npf": "true"}
        return list(self._call("send_api_request", "get", "/v2/user/dashboard", params, list(params)).get("posts", []))

    def submissions(self) -> list[dict[str, Any]]:
        """Asks and submissions waiting on the blog, in NPF (an ask's question blocks come first)."""
        return list(self._call("submission", self.blog, npf="true").get("posts", []))

    def create(self, payload: dict[str, Any], media: dict[str, bytes]) -> int:
        """NPF create; returns the new post's id."""
        return self._send("POST", f"/v2/blog/{self.blog}/posts", payload, media)

    def edit(self, post_id: int, payload: dict[str, Any], media: dict[str, bytes]) -> int:
        """NPF edit of an existing post (the author's draft) in place."""
        return self._send("PUT", f"/v2/blog/{self.blog}/posts/{post_id}", payload, media)

    def _send(self, method: str, path: str, payload: dict[str, Any], media: dict[str, bytes]) -> int:
        request = self.client.request
        # The JSON part must come first; requests keeps the order of this list.
        parts: list[tuple[str, tuple[str | None, bytes, str]]] = [
            ("json", (None, json.dumps(payload).encode(), "application/json"))]
        parts += [(name, (f"{name}.png", data, "image/png")) for name, data in media.items()]
        try:
            response = requests.request(method, request.host + path, files=parts, headers=request.headers,
                                        auth=request.oauth, allow_redirects=False, timeout=REQUEST_TIMEOUT_S)
        except requests.RequestException as error:
            raise TumblrError(0, [], f"no answer from Tumblr: {type(error).__name__}") from error
        headers = dict(response.headers)
        try:
            body = response.json()
        except ValueError:
            raise TumblrError(response.status_code if response.status_code >= 400 else 502, [],
                              f"non-JSON answer ({response.status_code})", headers) from None
        _raise_for_error(body, headers)
        return int(body["response"]["id"])
