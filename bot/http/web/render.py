"""Server-side HTML with Jinja2; autoescaping is on for every template, so data is always text, never markup."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot.http.web.moderator import current_moderator

TEMPLATES = Path(__file__).with_name("templates")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "–" if value is None else (f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min")


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    return "–" if start is None or end is None else _seconds((end - start).total_seconds())


_env.filters.update(when=_when, seconds=_seconds)
_env.globals.update(duration=_duration)


def render(request: web.Request, template: str, context: dict[str, Any], *, status: int = 200) -> web.Response:
    page = _env.get_template(template).render(moderator=current_moderator(request), **context)
    return web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
