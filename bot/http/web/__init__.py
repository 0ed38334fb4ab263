"""The moderator web app, mounted under /mod/ on the same aiohttp application as the API."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.http.web.session import COOKIE_PATH
from bot.http.web.views import routes

STATIC = Path(__file__).with_name("static")


def add_web_routes(app: web.Application) -> None:
    app.router.add_routes(routes)
    app.router.add_static(COOKIE_PATH + "/static", STATIC, append_version=False)

    async def to_dashboard(_request: web.Request) -> web.Response:
        raise web.HTTPFound(COOKIE_PATH + "/")

    app.router.add_get(COOKIE_PATH, to_dashboard)
