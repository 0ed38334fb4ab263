"""The app on a real socket, served from a thread of its own, for clients that are not asyncio
(schemathesis' requests, Playwright's browser)."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class LiveServer:
    """Serves `app` on 127.0.0.1 at a port the OS picks (`base_url`) while the `with` block runs."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.base_url = ""

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001  the port the OS picked
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
