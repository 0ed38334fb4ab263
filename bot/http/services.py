"""What the HTTP handlers work with, built once per application and stored on it under `SERVICES`."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.http.login_limits import LoginLimiter
from bot.http.ratelimit import RateLimiter
from bot.http.settings import HttpSettings
from config.settings import TumblrSettings
from generation.types import RenderRequest
from storage.async_api import AsyncJobs
from storage.db import Database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.styles import StyleStore


@dataclass(frozen=True)
class Services:
    settings: HttpSettings
    db: Database
    queue: JobQueue
    jobs: AsyncJobs
    moderation: Moderation
    images: ImageStore
    styles: StyleStore
    api_limiter: RateLimiter
    login_limiter: LoginLimiter
    tumblr: TumblrSettings | None  # None, or no blog: the autoresponder is not configured (posts answer 503)
    defaults: RenderRequest  # what a job's left-out options are: `[generation]`'s (generation.request_options.configured)


SERVICES = web.AppKey("glyphbot_services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
