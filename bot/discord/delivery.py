"""Delivering jobs to Discord: queue position, throttled progress edits with previews, then the result.

One `Delivery` per interaction that queued jobs. It watches the jobs through storage's async API and
edits the interaction's original response. The interaction token only lives 15 minutes: past that
(or when Discord rejects the token) the result is posted to the channel with a mention instead.
A channel that vanished or refuses the bot fails this delivery with a logged reason, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.discord.attachments import TooLargeForDiscord, Upload, enlarge_preview, pack_images
from bot.discord.buttons import STILL_ACTIONS, TWEEN_ACTIONS, pending_view, result_view
from bot.discord.outbox import PendingDelivery
from bot.discord.texts import fit, progress_message, quote_prompt, result_message, status_line
from bot.discord.throttle import EditThrottle
from storage.errors import DatabaseUnavailable, StorageError
from storage.types import Job, JobUpdate

if TYPE_CHECKING:
    from bot.discord.context import BotContext

log = logging.getLogger(__name__)
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
DB_RETRY_S = 1.0
DELIVERY_FAILED = "⚠️ This request's result could not be delivered; the error was logged. `/history` lists your jobs."
T = TypeVar("T")


@dataclass
class Target:
    """Where a delivery goes: the interaction's response while its token is usable, else the channel.

    `interaction` is None for deliveries recovered after a restart: they can only use the channel.
    """

    interaction: discord.Interaction | None
    user_id: int
    channel_id: int
    guild_id: int | None
    token_deadline: float  # wall-clock seconds; past it the token is treated as expired
    token_usable: bool = True

    @classmethod
    def of(cls, interaction: discord.Interaction, lifetime_s: float, margin_s: float) -> "Target":
        deadline = interaction.created_at.timestamp() + lifetime_s - margin_s
        return cls(interaction, interaction.user.id, interaction.channel_id or 0, interaction.guild_id, deadline)

    @classmethod
    def recovered(cls, pending: PendingDelivery) -> "Target":
        return cls(None, pending.user_id, pending.channel_id, pending.guild_id, 0.0, token_usable=False)

    def can_use_token(self) -> bool:
        return self.interaction is not None and self.token_usable and time.time() < self.token_deadline

    def note_webhook_error(self, error: discord.HTTPException) -> bool:
        """Record a webhook failure; True when it means the token (or its message) is gone for good."""
        if error.status in (401, 404):
            self.token_usable = False
            return True
        return False


class Delivery:
    def __init__(self, bot: "BotContext", target: Target, pending: PendingDelivery) -> None:
        self.bot = bot
        self.target = target
        self.pending = pending
        self.job_ids = pending.job_ids
        self.prompt = pending.prompt
        self.note = pending.note
        self.throttle = EditThrottle(bot.settings.progress_edit_interval_s)
        self._previews_shown: tuple[str | None, ...] = ()

    async def run(self) -> None:
        """Deliver, then forget the outbox entry; a shutdown (cancellation) keeps it for the next start."""
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery of jobs %s failed", self.job_ids)
            with contextlib.suppress(Exception):  # best effort: the failure itself is logged above
                await self._send(f"{quote_prompt(self.prompt)}\n{DELIVERY_FAILED}", [], None)
        await asyncio.to_thread(self.bot.outbox.remove, self.pending.key)

    async def _run(self) -> None:
        updates: asyncio.Queue[JobUpdate | BaseException] = asyncio.Queue()
        watchers = [asyncio.create_task(self._watch(job_id, updates)) for job_id in self.job_ids]
        try:
            states: dict[int, JobUpdate] = {}
            dirty = False
            while not (len(states) == len(self.job_ids) and all(s.job.done for s in states.values())):
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation.
                    async with asyncio.timeout(self.throttle.wait_time() if dirty else None):
                        item = await updates.get()
                except TimeoutError:
                    await self._show_progress(states)
                    dirty = False
                    continue
                if isinstance(item, BaseException):
                    raise item
                states[item.job.id] = item
                dirty = True
                if self.throttle.wait_time() == 0 and not all(s.job.done for s in states.values()):
                    await self._show_progress(states)
                    dirty = False
            await asyncio.sleep(self.throttle.wait_time())
            await self._show_result([states[job_id].job for job_id in self.job_ids])
        finally:
            for watcher in watchers:
                watcher.cancel()

    async def _patiently(self, what: str, read: Callable[[], Awaitable[T]]) -> T:
        """Retry a read through a database outage: the jobs are safe in the queue, so their results are
        worth waiting for; only a shutdown stops this (and the outbox resumes it after the restart)."""
        while True:
            try:
                return await read()
            except DatabaseUnavailable as error:
                log.warning("%s for jobs %s: %s; retrying in %.1f s", what, self.job_ids, error, DB_RETRY_S)
                await asyncio.sleep(DB_RETRY_S)

    async def _watch(self, job_id: int, updates: asyncio.Queue[JobUpdate | BaseException]) -> None:
        """Forward a job's updates; a database outage only delays them, other storage errors end the delivery."""

        async def forward() -> None:
            async for update in self.bot.jobs.watch(job_id):
                await updates.put(update)

        try:
            await self._patiently(f"watching job {job_id}", forward)
        except StorageError as error:
            await updates.put(error)

    async def _show_progress(self, states: dict[int, JobUpdate]) -> None:
        interaction = self.target.interaction
        if interaction is None or not self.target.can_use_token():
            return  # nothing to edit any more; the result will go to the channel
        many = len(self.job_ids) > 1
        labels = [f"#{index + 1} " if many else "" for index in range(len(self.job_ids))]
        lines = [
            status_line(states[job_id], label.strip()) if job_id in states else f"{label}⏳ queued"
            for label, job_id in zip(labels, self.job_ids)
        ]
        content = progress_message(self.prompt, lines + ([self.note] if self.note else []))
        previews = tuple(states[j].job.preview_hash if j in states and not states[j].job.done else None for j in self.job_ids)
        files: list[discord.File] = []
        if previews != self._previews_shown and any(previews):
            files = await self._preview_files(previews)
        try:
            if files:
                await interaction.edit_original_response(content=content, attachments=files, view=pending_view(self.job_ids))
                self._previews_shown = previews
            else:
                await interaction.edit_original_response(content=content, view=pending_view(self.job_ids))
        except discord.HTTPException as error:
            self.target.note_webhook_error(error)
            log.warning("progress edit for jobs %s failed: %s", self.job_ids, error)
        finally:
            self.throttle.mark_sent()

    async def _preview_files(self, previews: tuple[str | None, ...]) -> list[discord.File]:
        """The base-stage previews, enlarged; none when one cannot be read (a preview is not worth failing for)."""
        files = []
        try:
            for index, digest in enumerate(previews):
                if digest:
                    data = await asyncio.to_thread(enlarge_preview, await self.bot.jobs.read_image(digest))
                    files.append(discord.File(io.BytesIO(data), filename=f"preview-{index + 1}.png"))
        except StorageError as error:
            log.warning("previews of jobs %s left out: %s", self.job_ids, error)
            return []
        return files

    async def _chosen_images(self, jobs: list[Job]) -> tuple[list[bytes], list[int]]:
        """The chosen image of each succeeded job that still has one (moderators may have hidden it)."""
        pngs, shown = [], []
        for job in jobs:
            if job.status != "succeeded":
                continue
            winner = next((image for image in await self.bot.jobs.images_of(job.id) if image.chosen), None)
            if winner is not None:
                pngs.append(await self.bot.jobs.read_image(winner.sha256))
                shown.append(job.id)
        return pngs, shown

    async def _show_result(self, jobs: list[Job]) -> None:
        pngs, shown = await self._patiently("collecting the result", lambda: self._chosen_images(jobs))
        note = self.note
        if len(shown) < sum(job.status == "succeeded" for job in jobs):
            note = (note + "\n" if note else "") + "Some images were hidden by moderators."
        view = result_view(shown, TWEEN_ACTIONS if jobs[0].kind == "tween" else STILL_ACTIONS) if shown else None
        limit = min(self._upload_limit(), self.bot.settings.max_upload_bytes)
        uploads: list[Upload] = []
        if pngs:
            try:
                uploads = await asyncio.to_thread(pack_images, pngs, stem=f"glyph-{self.job_ids[0]}", limit_bytes=limit)
            except TooLargeForDiscord as error:
                note = (note + "\n" if note else "") + f"The images are too large to upload: {error}."
                view = None
        await self._send(result_message(jobs, note=note), uploads, view)

    async def _send(self, content: str, uploads: list[Upload], view: discord.ui.View | None) -> None:
        """The final message: an edit of the reply while its token works, else a channel post with a mention."""
        interaction = self.target.interaction
        if interaction is not None and self.target.can_use_token():
            try:
                await interaction.edit_original_response(content=content, attachments=_files(uploads), view=view)
                return
            except discord.HTTPException as error:
                if not self.target.note_webhook_error(error):
                    log.warning("could not deliver jobs %s: %s", self.job_ids, error)
                    return
                log.info("interaction token of jobs %s no longer works (%s); posting to the channel", self.job_ids, error)
        # The mention goes on its own line: a block quote (the prompt) only renders at the start of a line.
        await self._post_to_channel(fit(f"<@{self.target.user_id}>\n{content}"), uploads, view)

    async def _post_to_channel(self, content: str, uploads: list[Upload], view: discord.ui.View | None) -> None:
        channel = self.bot.get_partial_messageable(self.target.channel_id, guild_id=self.target.guild_id)
        mentions = discord.AllowedMentions(users=[discord.Object(self.target.user_id)], roles=False, everyone=False)
        try:
            kwargs = {"view": view} if view is not None else {}
            await channel.send(content=content, files=_files(uploads), allowed_mentions=mentions, **kwargs)
        except discord.HTTPException as error:
            log.warning(
                "cannot deliver jobs %s to channel %s: %s %s", self.job_ids, self.target.channel_id, error.status, error.text
            )

    def _upload_limit(self) -> int:
        """The smallest of the interaction's limit (Discord states it per interaction) and the guild's."""
        limits = []
        if self.target.interaction is not None:
            limits.append(self.target.interaction.filesize_limit)
        guild = self.bot.get_guild(self.target.guild_id) if self.target.guild_id else None
        if guild is not None:
            limits.append(guild.filesize_limit)
        return min(limits, default=DEFAULT_UPLOAD_LIMIT)


def _files(uploads: list[Upload]) -> list[discord.File]:
    return [discord.File(io.BytesIO(upload.data), filename=upload.filename) for upload in uploads]
