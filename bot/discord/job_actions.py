"""What each persistent button does; every parameter comes from the job row, never from the message."""

from __future__ import annotations

import asyncio
import contextlib
import io
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import discord

from bot.discord.access import actor, may_manage, owns
from bot.discord.attachments import MAX_FILES, TooLargeForDiscord, pack_images
from bot.discord.imagine import claim_cooldown, refuse, submit_and_deliver
from bot.discord.texts import candidates_message, fit, job_title
from generation.request_parsers import random_seed
from generation.types import Box, RenderRequest
from storage.errors import DatabaseUnavailable, JobNotFound
from storage.types import Job
from storage.validation import png_size

if TYPE_CHECKING:
    from bot.discord.context import BotContext


@dataclass(frozen=True)
class Again:
    """One more job made from an earlier one's row (reroll, variations), in the shape submit_and_deliver takes."""

    title: str
    request: RenderRequest

    def requests(self, candidates: int | None) -> list[RenderRequest]:
        return [self.request]


async def _again(bot: "BotContext", job: Job, *, init_image_png: bytes | None, **changes: object) -> Again:
    """The job's own request (every setting from its row, the pictures from the image store) with a new seed."""
    style_image = await bot.jobs.read_image(job.style_image_hash) if job.style_image_hash else None
    request = job.render_request(init_image_png, style_image_png=style_image)
    return Again(job_title(job), replace(request, seed=random_seed(), **changes))  # type: ignore[arg-type]


async def reroll(bot: "BotContext", interaction: discord.Interaction, job: Job) -> None:
    """Same settings (and same pictures, style or tween ends), new seed; the clicker becomes the requester."""
    init = await bot.jobs.read_image(job.init_image_hash) if job.init_image_hash else None
    await submit_and_deliver(bot, interaction, await _again(bot, job, init_image_png=init))


async def variations(bot: "BotContext", interaction: discord.Interaction, job: Job) -> None:
    """img2img from this result's chosen image with the configured strength (into the same box, when the
    job wrote into one of a photo's and the result still has room for it)."""
    winner = next((image for image in await bot.jobs.images_of(job.id) if image.chosen), None)
    if winner is None or job.kind == "tween":
        bot.cooldowns.forget(interaction.user.id)
        why = "a tween is an animation; use Reroll for another one" if winner else "it failed, was cancelled, or was hidden"
        await refuse(interaction, f"This job has no still image to vary ({why}).")
        return
    init = await bot.jobs.read_image(winner.sha256)
    box = _fitting(job.box_tuple, png_size(init))
    await submit_and_deliver(bot, interaction, await _again(bot, job, init_image_png=init, strength=bot.settings.variation_strength, box=box))


def _fitting(box: Box | None, size: tuple[int, int] | None) -> Box | None:
    if box is None or size is None:
        return None
    x, y, w, h = box
    return box if x + w <= size[0] and y + h <= size[1] else None


async def candidates(bot: "BotContext", interaction: discord.Interaction, job: Job) -> None:
    """Every stored candidate with its OCR score, to the clicker only."""
    images = await bot.jobs.images_of(job.id)
    pngs = [await bot.jobs.read_image(image.sha256) for image in images[:MAX_FILES]]
    text = candidates_message(job, images)
    files: list[discord.File] = []
    if pngs:
        try:
            uploads = await asyncio.to_thread(pack_images, pngs, stem=f"job-{job.id}-candidate", limit_bytes=min(interaction.filesize_limit, bot.settings.max_upload_bytes))
            files = [discord.File(io.BytesIO(u.data), filename=u.filename) for u in uploads]
        except TooLargeForDiscord as error:
            text += f"\n(The candidate images are too large to attach: {error}.)"
    await interaction.followup.send(fit(text), files=files, ephemeral=True)


async def delete(bot: "BotContext", interaction: discord.Interaction, job: Job) -> None:
    if not may_manage(interaction, job):
        await refuse(interaction, "Only the person who asked for this image or a moderator can delete it.")
        return
    if interaction.message is not None:
        with contextlib.suppress(discord.NotFound):  # deleted meanwhile: what was asked for is done
            await interaction.message.delete()
    if not owns(interaction, job):
        await asyncio.to_thread(bot.moderation.record, actor(interaction), "delete_result", f"job:{job.id}", channel=interaction.channel_id)


async def cancel(bot: "BotContext", interaction: discord.Interaction, job: Job) -> None:
    if not may_manage(interaction, job):
        await refuse(interaction, "Only the person who asked for this image or a moderator can cancel it.")
        return
    if job.done:
        await refuse(interaction, f"Job {job.id} already {job.status}; nothing to cancel.")
        return
    job = await bot.jobs.cancel(job.id, reason=f"cancelled by {interaction.user.name}")
    if not owns(interaction, job):
        await asyncio.to_thread(bot.moderation.record, actor(interaction), "cancel_job", f"job:{job.id}")
    await interaction.followup.send(f"Job {job.id} is {job.status}.", ephemeral=True)


HANDLERS = {"reroll": reroll, "vary": variations, "cands": candidates, "delete": delete, "cancel": cancel}
# Reroll and variations answer in public like /imagine; candidates and cancel privately; delete changes
# the clicked message itself, so it only acknowledges the click.
PUBLIC, PRIVATE, SILENT = "public", "private", "silent"
ACKNOWLEDGEMENT = {"reroll": PUBLIC, "vary": PUBLIC, "cands": PRIVATE, "cancel": PRIVATE, "delete": SILENT}


async def handle(bot: "BotContext", interaction: discord.Interaction, action: str, job_id: int) -> None:
    """Acknowledge the click before the database is asked anything: Discord drops an interaction that
    is not answered within 3 s, and a busy database can take longer than that."""
    submits = action in ("reroll", "vary")
    if submits and not await claim_cooldown(bot, interaction):
        return
    kind = ACKNOWLEDGEMENT[action]
    try:
        if kind == SILENT:
            await interaction.response.defer()
        else:
            await interaction.response.defer(ephemeral=kind == PRIVATE, thinking=True)
        job = await bot.jobs.get(job_id)
    except (discord.NotFound, JobNotFound, DatabaseUnavailable) as error:
        if submits:
            bot.cooldowns.forget(interaction.user.id)  # a click that queued nothing should not cost a wait
        if not isinstance(error, JobNotFound):
            raise  # answered (or logged, when too late) by the client, like in every command
        await refuse(interaction, f"Job {job_id} no longer exists.")
        return
    await HANDLERS[action](bot, interaction, job)
