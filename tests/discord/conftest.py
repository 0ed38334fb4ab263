"""Fixtures: storage on a temporary SQLite file, the real worker with a text-drawing renderer, the
loopback Discord server, and the real bot connected to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.discord.client import GlyphBot
from bot.discord.settings import DiscordSettings
from bot.worker import Worker, WorkerOptions
from bot.worker_renderers import TextDrawingRenderer
from storage.async_api import AsyncJobs
from storage.db import open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.types import QueueLimits
from tests.discord.fake_discord import FakeDiscord


@dataclass
class Storage:
    queue: JobQueue
    jobs: AsyncJobs
    moderation: Moderation
    path: Path
    workers: list[tuple[Worker, threading.Thread]] = field(default_factory=list)

    def start_worker(self, step_delay_s: float = 0.0) -> Worker:
        """The real worker loop in a thread, rendering with PIL instead of the model."""
        options = WorkerOptions(lease_s=30, heartbeat_s=5, batch_size=4, poll_interval_s=0.05)
        worker = Worker(self.queue, TextDrawingRenderer(step_delay_s=step_delay_s), options)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        self.workers.append((worker, thread))
        return worker

    def stop_workers(self) -> None:
        for worker, thread in self.workers:
            worker.stop()
            thread.join(timeout=10)


def open_test_storage(url: str, tmp_path: Path) -> Storage:
    # A short busy timeout so tests of a locked database do not wait the production 10 s.
    db = open_database(url, busy_timeout_s=1.0)
    db.upgrade()
    queue = JobQueue(db, ImageStore(tmp_path / "images"), QueueLimits(per_requester=4, per_place=20))
    return Storage(queue, AsyncJobs(queue, poll_initial_s=0.02, poll_max_s=0.1), Moderation(db), tmp_path / "glyphbot.db")


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    result = open_test_storage(f"sqlite:///{tmp_path / 'glyphbot.db'}", tmp_path)
    yield result
    result.stop_workers()
    result.queue.db.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> DiscordSettings:
    return DiscordSettings(
        token="test-token", cooldown_s=0.0, progress_edit_interval_s=0.3, steps_default=6, steps_min=1,
        state_dir=str(tmp_path / "discord-state"),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    with server.patched():
        yield server
    await server.close()


@pytest.fixture
async def start_bot(fake: FakeDiscord, storage: Storage, settings: DiscordSettings) -> AsyncIterator[Callable[..., object]]:
    """Start a bot (optionally with other settings) and wait until it is ready; all are closed at the end."""
    running: list[tuple[GlyphBot, asyncio.Task[None]]] = []

    async def start(bot_settings: DiscordSettings | None = None) -> GlyphBot:
        bot = GlyphBot(bot_settings or settings, storage.jobs, storage.moderation, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start("test-token"))
        running.append((bot, task))
        async with asyncio.timeout(10):
            while not bot.is_ready():
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        return bot

    yield start
    for bot, task in running:
        await bot.close()
        await asyncio.wait_for(task, 10)

