"""Moderator commands: bans, blocked terms, hiding images, the audit log. Each action is audited by storage.

Gated twice: `default_permissions` hides the group from members without Manage Messages, and a
check refuses anyone who lacks it at the moment of use (server admins can change the former).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord.access import actor, is_moderator, moderates
from bot.discord.buttons import job_ids_in
from bot.discord.texts import discord_time, fit
from storage.errors import JobNotFound

if TYPE_CHECKING:
    from bot.discord.client import GlyphBot

AUDIT_PAGE = 15


def _moderator_only(interaction: discord.Interaction) -> bool:
    if not is_moderator(interaction):
        raise app_commands.CheckFailure("This command is for moderators (Manage Messages permission).")
    return True


async def _in_thread(interaction: discord.Interaction, method: str, *args: Any, **kwargs: Any) -> Any:
    bot: GlyphBot = interaction.client  # type: ignore[assignment]
    return await asyncio.to_thread(getattr(bot.moderation, method), *args, **kwargs)


async def _reply(interaction: discord.Interaction, text: str) -> None:
    await interaction.followup.send(fit(text), ephemeral=True, allowed_mentions=discord.AllowedMentions.none())


mod = app_commands.Group(
    name="mod",
    description="Moderation of glyphbot",
    guild_only=True,
    default_permissions=discord.Permissions(manage_messages=True),
)


@mod.command(name="ban", description="Stop a user from generating images")
@app_commands.check(_moderator_only)
async def ban(interaction: discord.Interaction, user: discord.User, reason: str = "") -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await _in_thread(interaction, "ban", "user", "discord", str(user.id), moderator=actor(interaction), reason=reason)
    await _reply(interaction, f"🔨 {user.mention} is banned from generating images.")


@mod.command(name="unban", description="Let a banned user generate images again")
@app_commands.check(_moderator_only)
async def unban(interaction: discord.Interaction, user: discord.User, reason: str = "") -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    bans = [b for b in await _in_thread(interaction, "bans") if b.kind == "user" and b.source == "discord" and b.subject == str(user.id)]
    for found in bans:
        await _in_thread(interaction, "lift_ban", found.id, moderator=actor(interaction), reason=reason)
    await _reply(interaction, f"{user.mention} is not banned any more." if bans else f"{user.mention} was not banned.")


@mod.command(name="block", description="Refuse prompts that contain a term")
@app_commands.check(_moderator_only)
async def block(interaction: discord.Interaction, term: str, reason: str = "") -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        blocked = await _in_thread(interaction, "block_term", term, moderator=actor(interaction), reason=reason)
    except ValueError as error:
        await _reply(interaction, f"❌ {error}")
        return
    await _reply(interaction, f"🚫 Prompts containing “{blocked.term}” are refused from now on.")


@mod.command(name="unblock", description="Allow a blocked term again")
@app_commands.check(_moderator_only)
async def unblock(interaction: discord.Interaction, term: str, reason: str = "") -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    removed = await _in_thread(interaction, "unblock_term", term, moderator=actor(interaction), reason=reason)
    await _reply(interaction, f"“{term}” is allowed again." if removed else f"“{term}” was not blocked.")


@mod.command(name="terms", description="List the blocked terms")
@app_commands.check(_moderator_only)
async def terms(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    found = await _in_thread(interaction, "blocked_terms")
    lines = [f"• “{t.term}” {t.reason}".rstrip() for t in found] or ["No blocked terms."]
    await _reply(interaction, "\n".join(lines))


@mod.command(name="hide", description="Hide a job's images everywhere (by content) and delete its message if given")
@app_commands.check(_moderator_only)
async def hide(interaction: discord.Interaction, job_id: app_commands.Range[int, 1], reason: str = "") -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    await _reply(interaction, await _hide_jobs(interaction, [job_id], reason))


@mod.command(name="audit", description="The latest moderator actions")
@app_commands.check(_moderator_only)
async def audit(interaction: discord.Interaction) -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    entries = await _in_thread(interaction, "audit_log", limit=AUDIT_PAGE)
    lines = [f"`{e.id}` {discord_time(e.at)} {e.moderator}: {e.action} {e.target}" for e in entries] or ["No moderator actions yet."]
    await _reply(interaction, "\n".join(lines))


@app_commands.context_menu(name="Hide glyphbot image")
@app_commands.guild_only()
@app_commands.default_permissions(manage_messages=True)
@app_commands.check(_moderator_only)
async def hide_message(interaction: discord.Interaction, message: discord.Message) -> None:
    """Right-click a result: hide its images and delete the message."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    job_ids = job_ids_in(message)
    if not job_ids or message.author.id != interaction.client.user.id:  # type: ignore[union-attr]
        await _reply(interaction, "That message is not a glyphbot result.")
        return
    summary = await _hide_jobs(interaction, job_ids, "hidden from message")
    with contextlib.suppress(discord.NotFound):
        await message.delete()
    await _in_thread(interaction, "record", actor(interaction), "delete_message", f"message:{message.id}", jobs=job_ids)
    await _reply(interaction, summary + " The message was deleted.")


async def _hide_jobs(interaction: discord.Interaction, job_ids: list[int], reason: str) -> str:
    bot: GlyphBot = interaction.client  # type: ignore[assignment]
    hidden = 0
    for job_id in job_ids:
        try:
            job = await bot.jobs.get(job_id)
        except JobNotFound:
            return f"No job {job_id}."
        if not moderates(interaction, job):
            return f"Job {job_id} was not made in this server."
        for image in await bot.jobs.images_of(job_id, include_hidden=True):
            await _in_thread(interaction, "hide_image", image.sha256, moderator=actor(interaction), reason=reason or f"job {job_id}")
            hidden += 1
    return f"🙈 Hid {hidden} image(s) of job(s) {', '.join(map(str, job_ids))}."


COMMANDS: list[app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu] = [mod, hide_message]
