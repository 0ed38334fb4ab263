"""`glyphbot serve`: the configured adapters and one in-process worker in one process (the embedded default).

Adapters run as tasks on one event loop; the worker runs in a thread beside them, so rendering never
blocks the loop. When any of them ends (an adapter's fatal error, the worker's unexpected one) the
whole process stops with that reason instead of going on half-working: every job is in the database,
so a supervisor's restart loses nothing. SIGINT and SIGTERM stop it cleanly.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.worker import Worker
from storage.db import Database
from storage.facade import Storage

log = logging.getLogger(__name__)
# How often serve without a worker looks at its SQLite file; well inside the 5 s it has to stop in.
FILE_CHECK_INTERVAL_S = 1.0


class ServeError(RuntimeError):
    """An adapter or the worker stopped; the message names it and says why."""


async def _discord(settings: Any, storage: Storage) -> None:
    from bot.discord import run_discord_bot

    await run_discord_bot(settings, storage.async_jobs(), storage.moderation)


async def _tumblr(settings: Any, storage: Storage) -> None:
    from bot.tumblr import run_tumblr_autoresponder

    from generation.request_options import configured

    await run_tumblr_autoresponder(settings.tumblr, storage.async_jobs(), defaults=configured(settings.generation.model_dump()))


async def _http(settings: Any, storage: Storage) -> None:
    from bot.http import run_http

    await run_http(settings, storage.db)


async def _watch_database_file(db: Database) -> None:
    """Raise DatabaseFileChanged once the SQLite file is deleted or replaced.

    With a worker, its next poll notices; without one, adapters would answer 503 for as long as the
    process lives instead of stopping it, so a supervisor would never restart it on a good file."""
    while True:
        await asyncio.to_thread(db.check_file)
        await asyncio.sleep(FILE_CHECK_INTERVAL_S)


# Adapters are imported only when started, so a host serving one never loads the others' libraries.
ADAPTERS: dict[str, Callable[[Any, Storage], Awaitable[None]]] = {"discord": _discord, "tumblr": _tumblr, "http": _http}


def configured_adapters(settings: Any) -> list[str]:
    """The adapters that have what they need to start: Discord a token, Tumblr a blog; HTTP always."""
    names = []
    if settings.discord.token is not None or settings.discord.token_file is not None:
        names.append("discord")
    if settings.tumblr.blog:
        names.append("tumblr")
    return names + ["http"]


async def serve(
    settings: Any, storage: Storage, adapters: Sequence[str], worker: Worker | None, stop: asyncio.Event | None = None
) -> None:
    """Run `adapters` (names in ADAPTERS) and `worker` until `stop` is set, a signal arrives, or one of them ends.

    Raises ServeError naming the part that ended by itself, and why.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    parts = {asyncio.create_task(ADAPTERS[name](settings, storage)): f"the {name} adapter" for name in adapters}
    # The worker gets a thread of its own: in the default pool it would hold one of the few threads
    # that adapters' database calls (AsyncJobs) run in, for as long as the process lives.
    worker_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="worker")
    if worker is not None:
        parts[asyncio.ensure_future(loop.run_in_executor(worker_thread, worker.run))] = "the worker"
    elif storage.db.is_sqlite:
        parts[asyncio.create_task(_watch_database_file(storage.db))] = "the database watch"
    stopper = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([*parts, stopper], return_when=asyncio.FIRST_COMPLETED)
        ended = [task for task in done if task is not stopper]
        if ended:
            task = ended[0]
            reason = "ended" if task.exception() is None else f"stopped: {task.exception()}"
            raise ServeError(f"{parts[task]} {reason}") from task.exception()
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
        if worker is not None:
            worker.stop()  # the worker finishes the batch in hand, then its thread returns
        stopper.cancel()
        for task in parts:
            if parts[task] != "the worker":
                task.cancel()
        await asyncio.gather(*parts, stopper, return_exceptions=True)
        worker_thread.shutdown()
        log.info("serve stopped")
