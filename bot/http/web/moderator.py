"""Who is logged in on a moderator page: set by the session guard, read by every template.

Its own module so the template renderer and the session guard (which renders the login page) both
depend on it instead of on each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class Moderator:
    name: str
    csrf_token: str
    session_token: str


MODERATOR = web.RequestKey("glyphbot_moderator", Moderator)


def current_moderator(request: web.Request) -> Moderator | None:
    """The moderator of a guarded request (templates show the name and the CSRF token); None on the login page."""
    return request.get(MODERATOR)
