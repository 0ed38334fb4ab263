"""The HTTP side of glyphbot: a JSON API for programs and a web app for moderators (aiohttp).

`glyphbot serve` mounts it with `run_http(settings, db)`; tests build it with `create_app(settings, db)`.
"""

from bot.http.app import HttpBindError, create_app, run_http

__all__ = ["HttpBindError", "create_app", "run_http"]
