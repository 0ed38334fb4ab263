"""Moderator sessions in the browser: the session cookie, CSRF checks, and the guard of every page.

Why server-side sessions (a random token in the cookie, its hash in the database) instead of signed
cookies: logging out or disabling a moderator ends the session at once, and no signing key must be
configured or kept secret. Every POST carries the session's CSRF token in a hidden field; the cookie
is also SameSite=Strict, so a forged cross-site form fails twice over.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from aiohttp import web
from multidict import MultiDictProxy

from bot.http.accounts import ModeratorSession, session_for, well_formed_token
from bot.http.services import services
from bot.http.web.moderator import MODERATOR, Moderator
from bot.http.web.render import render

SESSION_COOKIE = "glyphbot_session"
LOGIN_COOKIE = "glyphbot_login"
COOKIE_PATH = "/mod"


Page = Callable[[web.Request, Moderator], Awaitable[web.StreamResponse]]


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, *, max_age: int, path: str) -> None:
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite="Strict",
                        secure=services(request).settings.cookie_secure)


def session_cookie(response: web.StreamResponse, request: web.Request, token: str) -> None:
    hours = services(request).settings.session_hours
    set_cookie(response, request, SESSION_COOKIE, token, max_age=int(dt.timedelta(hours=hours).total_seconds()), path=COOKIE_PATH)


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request came from another site (Origin or Referer of another host),
    or names its origin in a form no browser sends (undecodable bytes, a bad port): never a 500."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin is None
    from yarl import URL

    try:
        source = URL(origin)
        return source.host == request.url.host and source.port == request.url.port
    except (ValueError, UnicodeError):  # yarl parses lazily: host and port may raise here, not in URL()
        return False


def tokens_equal(a: str, b: str) -> bool:
    # Tokens we issue are ASCII; a value with undecodable bytes (surrogate escapes) cannot equal one.
    return well_formed_token(a, 1024) and well_formed_token(b, 1024) and hmac.compare_digest(a.encode(), b.encode())


async def read_form(request: web.Request) -> MultiDictProxy[str | web.FileField]:
    """The posted form, or 400 when it cannot be decoded (bytes not in its charset, an unknown charset,
    a broken multipart body); aiohttp raises those as plain exceptions, which would be a 500."""
    try:
        form = await request.post()
    except (UnicodeError, LookupError, ValueError, AssertionError):
        raise web.HTTPBadRequest(text="the form could not be decoded; send it as UTF-8") from None
    if any(isinstance(value, str) and not _encodable(value) for value in form.values()):
        raise web.HTTPBadRequest(text="the form could not be decoded; send it as UTF-8")
    return form


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def moderator_page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Guard a page: 401 (with the login form) without a live session; for POSTs also 403 without a
    valid CSRF token or from another origin. The handler receives the logged-in moderator."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(SESSION_COOKIE, "")
        found: ModeratorSession | None = (
            await asyncio.to_thread(session_for, services(request).db, token) if well_formed_token(token) else None
        )
        if found is None:
            if request.method == "GET":
                return await login_form(request, status=401, next_path=request.path_qs)
            raise web.HTTPUnauthorized(text="log in first")
        moderator = Moderator(found.moderator, found.csrf_token, token)
        if request.method == "POST":
            form = await read_form(request)
            if not same_origin(request):
                raise web.HTTPForbidden(text="cross-site request refused")
            if not tokens_equal(str(form.get("csrf_token", "")), moderator.csrf_token):
                raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page and try again")
        request[MODERATOR] = moderator
        response = await handler(request, moderator)
        response.headers["Cache-Control"] = "no-store"
        return response

    return guarded


async def login_form(request: web.Request, *, status: int = 200, error: str = "", next_path: str = "") -> web.Response:
    """The login page with a fresh login-CSRF token (double-submit: cookie and hidden field must match)."""
    import secrets

    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {"login_token": token, "error": error, "next": safe_next(next_path)}, status=status)
    set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600, path=COOKIE_PATH)
    response.headers["Cache-Control"] = "no-store"
    return response


def safe_next(path: str) -> str:
    """A redirect target inside the moderator app only, so `next=` cannot send anyone to another site."""
    if path.startswith(COOKIE_PATH + "/") and not path.startswith("//") and "\\" not in path and "\n" not in path:
        return path
    return COOKIE_PATH + "/"
