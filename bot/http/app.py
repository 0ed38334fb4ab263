"""Assembling the aiohttp application: services, middlewares, the JSON API and the moderator web app."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from bot.http import api as api_module
from bot.http import tumblr_posts  # noqa: F401  registers the /tumblr/posts endpoints on api_module.api
from bot.http.auth import api_guard
from bot.http.errors import ApiError
from bot.http.login_limits import LoginLimiter
from bot.http.openapi import build_openapi
from bot.http.ratelimit import RateLimiter
from bot.http.services import SERVICES, Services
from bot.http.settings import HttpSettings, http_settings
from config.settings import TumblrSettings
from generation.request_options import configured
from storage.async_api import AsyncJobs
from storage.db import Database
from storage.errors import DatabaseUnavailable
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.styles import StyleStore
from storage.types import QueueLimits

log = logging.getLogger(__name__)


class _OneLineBadRequests(logging.Filter):
    """aiohttp logs a request it could not parse (a request line over 8 KB, a malformed header) with its
    parser's whole traceback, though it answered 400 and nothing here failed: say that in one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and 400 <= error.code < 500:
            reason = " ".join(error.message.split())[:200]  # the parser quotes the client's bytes, shortened
            record.msg, record.args = f"{record.getMessage()}: {error.code} {reason}", ()
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# The logger of aiohttp's connection handler in run_http (its default, aiohttp.server, is everyone's).
server_log = logging.getLogger(__name__ + ".server")
server_log.addFilter(_OneLineBadRequests())
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Inline SVG charts and our own script file only; no inline script, so injected markup cannot run.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
}


def create_app(settings: Any, db: Database, *, images: ImageStore | None = None,
               http: HttpSettings | None = None, limits: QueueLimits | None = None,
               tumblr: TumblrSettings | None = None, styles: StyleStore | None = None) -> web.Application:
    """The whole HTTP side on `db`. `settings` is the glyphbot Settings object (None: defaults);
    `images` defaults to the store in `settings.images_dir`, `styles` to `settings.styles_dir` (without
    settings: `styles/` beside the image store, as in the data folder's layout); `http`, `limits` and
    `tumblr` override what `settings` says (tests use them)."""
    config = http or http_settings(settings)
    if images is None:
        images = ImageStore(settings.images_dir)
    if styles is None:
        styles = StyleStore(db, getattr(settings, "styles_dir", None) or images.root.parent / "styles")
    queue = JobQueue(db, images, limits or QueueLimits.from_settings(settings), styles=styles)
    generation = getattr(settings, "generation", None)
    app = web.Application(client_max_size=config.max_body_bytes, middlewares=[_security_headers, _api_errors])
    app[SERVICES] = Services(
        settings=config, db=db, queue=queue,
        jobs=AsyncJobs(queue, poll_initial_s=min(0.1, config.poll_interval_seconds), poll_max_s=config.poll_interval_seconds),
        moderation=Moderation(db), images=images, styles=styles,
        api_limiter=RateLimiter(config.rate_limit_burst),
        login_limiter=LoginLimiter(config.login_attempts_per_minute, config.login_name_attempts_per_hour),
        tumblr=tumblr or getattr(settings, "tumblr", None),
        defaults=configured(None if generation is None else generation.model_dump()),
    )
    api_module.api.add_routes(app, api_guard)
    document = build_openapi(api_module.api.endpoints, title="glyphbot API", version="1")

    async def openapi_json(_request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get(f"{api_module.PREFIX}/openapi.json", openapi_json, name="openapi")
    from bot.http.web import add_web_routes

    add_web_routes(app)
    return app


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # redirects and error pages are raised, and need the headers too
        error.headers.update({k: v for k, v in SECURITY_HEADERS.items() if k not in error.headers})
        raise
    if not response.prepared:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


@web.middleware
async def _api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under /api/, every error is a JSON ErrorBody, including aiohttp's own 404/405 and unexpected failures."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except DatabaseUnavailable as error:
        return ApiError(503, "unavailable", str(error), headers={"Retry-After": "5"}).response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return ApiError(error.status, error.reason.lower().replace(" ", "_"), error.text or error.reason,
                        headers={k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}).response()
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return ApiError(500, "internal_error", "the server failed; the error was logged").response()


class HttpBindError(RuntimeError):
    """The server could not listen (the port is taken, the address is not this machine's); the message says which."""


async def run_http(settings: Any, db: Database) -> None:
    """Serve on the configured address (loopback by default) until cancelled, then close the listening
    socket and the open connections. `glyphbot serve` runs this as one of its adapters and cancels it on
    SIGINT/SIGTERM; a socket that cannot be bound raises HttpBindError at once."""
    config = http_settings(settings)
    runner = web.AppRunner(create_app(settings, db, http=config), access_log=log, logger=server_log)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as error:
            raise HttpBindError(_bind_problem(config, error)) from None
        host = f"[{config.host}]" if ":" in config.host else config.host
        log.info("HTTP API on http://%s:%d/api/v1 (document: /api/v1/openapi.json), moderators on /mod/", host, config.port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def _bind_problem(config: HttpSettings, error: OSError) -> str:
    where = f"{config.host}:{config.port}"
    if error.errno == errno.EADDRINUSE:
        return f"cannot listen on {where}: the port is in use (another glyphbot serve?); set [http] port or GLYPHBOT_HTTP__PORT"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
    if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return f"cannot listen on {where}: this machine has no such address; set [http] host or GLYPHBOT_HTTP__HOST"
    return f"cannot listen on {where}: {error.strerror or error}"
