"""`/history [user]` and `/job id`: read-only views, answered ephemerally so they never clutter a channel."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.discord.access import is_moderator, may_manage, place_of
from bot.discord.attachments import file_extension
from bot.discord.imagine import refuse
from bot.discord.texts import history_message, job_details
from storage.errors import JobNotFound
from storage.types import JobFilter

if TYPE_CHECKING:
    from bot.discord.context import BotContext

HISTORY_PAGE = 10


@app_commands.command(name="history", description="Your latest images (moderators: anyone's in this server)")
@app_commands.guild_only()
@app_commands.describe(user="Whose history to show (moderators only, for other people)")
async def history_command(interaction: discord.Interaction, user: discord.User | None = None) -> None:
    bot: BotContext = interaction.client  # type: ignore[assignment]
    subject = user or interaction.user
    other = subject.id != interaction.user.id
    if other and not is_moderator(interaction):
        await refuse(interaction, "Only moderators can see other people's history.")
        return
    await interaction.response.defer(ephemeral=True, thinking=True)
    # Your own history spans every server; a moderator sees someone else's in this server only.
    filters = JobFilter(source="discord", requester_id=str(subject.id), place=place_of(interaction) if other else None)
    page = await bot.jobs.list(filters, limit=HISTORY_PAGE)
    whose = "you" if not other else subject.mention
    await interaction.followup.send(history_message(page.jobs, whose), ephemeral=True, allowed_mentions=discord.AllowedMentions.none())


@app_commands.command(name="job", description="Details of one job: settings, status and its picture")
@app_commands.guild_only()
@app_commands.describe(id="The job number shown under a result")
async def job_command(interaction: discord.Interaction, id: app_commands.Range[int, 1]) -> None:
    bot: BotContext = interaction.client  # type: ignore[assignment]
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        job = await bot.jobs.get(id)
    except JobNotFound:
        job = None
    if job is None or not may_manage(interaction, job):
        # The same answer for "missing" and "not yours": job ids must not reveal other people's prompts.
        await interaction.followup.send(f"No job {id} of yours here.", ephemeral=True)
        return
    images = await bot.jobs.images_of(job.id)
    winner = next((image for image in images if image.chosen), None)
    files = []
    if winner is not None:
        data = await bot.jobs.read_image(winner.sha256)
        files.append(discord.File(io.BytesIO(data), filename=f"job-{job.id}.{file_extension(data)}"))
    await interaction.followup.send(
        job_details(job, images), files=files, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
    )
