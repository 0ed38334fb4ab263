"""Fixtures: storage on a temporary SQLite file (with its style store), the real worker with a
text-drawing renderer, the loopback Discord server, and the real bot connected to it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import event

from bot.discord.client import GlyphBot
from bot.discord.settings import DiscordSettings
from bot.worker import Worker, WorkerOptions
from bot.render.model_free import TextDrawingRenderer
from generation.request_options import configured
from generation.types import Progress, ProgressCallback, RenderRequest, RenderResult
from storage.async_api import AsyncJobs
from storage.db import open_database
from storage.images import ImageStore
from storage.jobs import JobQueue
from storage.moderation import Moderation
from storage.styles import StyleStore
from storage.types import QueueLimits
from tests.bot.discord.fake_discord import FakeDiscord

# How long a statement waits on the "locked" database before it fails (SQLite's busy timeout, shortened).
OUTAGE_BUSY_TIMEOUT_S = 0.5


@dataclass
class Storage:
    queue: JobQueue
    jobs: AsyncJobs
    moderation: Moderation
    path: Path
    styles: StyleStore
    workers: list[tuple[Worker, threading.Thread]] = field(default_factory=list)

    def start_worker(self, step_delay_s: float = 0.0, renderer: TextDrawingRenderer | None = None) -> Worker:
        """The real worker loop in a thread, rendering with PIL instead of the model."""
        options = WorkerOptions(lease_s=30, heartbeat_s=5, batch_size=4, poll_interval_s=0.05)
        worker = Worker(self.queue, renderer or TextDrawingRenderer(step_delay_s=step_delay_s), options)
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        self.workers.append((worker, thread))
        return worker

    def stop_workers(self) -> None:
        for worker, thread in self.workers:
            worker.stop()
            thread.join(timeout=10)


    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        """The database is unreachable inside the block, for the bot and the worker alike. Started and
        ended in a thread, so the event loop the bot shares with the test never waits for it."""
        end = await asyncio.to_thread(self.start_outage)
        try:
            yield
        finally:
            await asyncio.to_thread(end)

    def start_outage(self) -> Callable[[], None]:
        """A SQLite outage, the same every run: from the moment this returns, every statement on storage's
        engines (reads and writes, the bot's and the worker's) waits a busy timeout and then fails as a
        locked file does (sqlite3's "database is locked", which storage turns into DatabaseUnavailable).
        Holding a real exclusive lock instead raced the bot's own pooled reads for the file, and on a busy
        machine lost. Returns what ends it."""
        db = self.queue.db
        engines = list({id(engine): engine for engine in (db.engine, db._write_engine)}.values())

        def locked(*_statement: object) -> None:
            time.sleep(OUTAGE_BUSY_TIMEOUT_S)
            raise sqlite3.OperationalError("database is locked")

        for engine in engines:
            event.listen(engine, "before_cursor_execute", locked)

        def end() -> None:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", locked)

        return end


class GatedRenderer(TextDrawingRenderer):
    """Draws like TextDrawingRenderer (tweens too: frames, then their GIF) but holds the first progress
    report of `stage` until the test opens `gate`, so a test acts on a job at an exact point instead of
    racing the worker."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
        self.reached = threading.Event()
        self.gate = threading.Event()

    def render(self, request: RenderRequest, progress: ProgressCallback | None = None) -> RenderResult:
        def held(report: Progress) -> None:
            if report.stage == self.stage and not self.gate.is_set():
                self.reached.set()
                if not self.gate.wait(timeout=30):
                    raise TimeoutError(f"the test never opened the gate of stage {self.stage}")
            if progress is not None:
                progress(report)

        return super().render(request, held)


def abandon_job(queue: JobQueue, progress: Progress) -> int:
    """Leave the next queued job as a worker killed mid-job would: claimed, some progress, a lease
    that nobody renews. Returns its id."""
    [job] = queue.claim("killed-worker", lease_s=0.5)
    queue.report_progress(job.id, "killed-worker", progress)
    return job.id


def open_test_storage(url: str, tmp_path: Path) -> Storage:
    # A short busy timeout so tests of a locked database do not wait the production 10 s.
    db = open_database(url, busy_timeout_s=1.0)
    db.upgrade()
    styles = StyleStore(db, tmp_path / "styles")
    queue = JobQueue(db, ImageStore(tmp_path / "images"), QueueLimits(per_requester=4, per_place=20), styles=styles)
    return Storage(queue, AsyncJobs(queue, poll_initial_s=0.02, poll_max_s=0.1), Moderation(db), tmp_path / "glyphbot.db", styles)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    result = open_test_storage(f"sqlite:///{tmp_path / 'glyphbot.db'}", tmp_path)
    yield result
    result.stop_workers()
    result.queue.db.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> DiscordSettings:
    return DiscordSettings(
        token="test-token", cooldown_s=0.0, progress_edit_interval_s=0.3, defaults=configured({"num_inference_steps": 6}), steps_min=1,
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

    async def start(bot_settings: DiscordSettings | None = None, jobs: AsyncJobs | None = None) -> GlyphBot:
        bot = GlyphBot(bot_settings or settings, jobs or storage.jobs, storage.moderation, guild_ready_timeout=0.05)
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

