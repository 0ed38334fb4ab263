"""Moderator commands: bans, blocked terms, hiding images, the audit log. Each action is audited by storage.

Gated twice: `default_permissions` hides the group from members without Manage Messages, and a
check refuses anyone who lacks it at the moment of use (server admins can change the former).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.discord.access import actor, is_moderator, moderates
from bot.discord.buttons import job_ids_in
from bot.discord.texts import discord_time, fit
from storage.errors import JobNotFound

if TYPE_CHECKING:
    from bot.discord.context import BotContext

AUDIT_PAGE = 15
MESSAGE_LINK = re.compile(
    r"(?:https://(?:(?:ptb|canary)\.)?discord(?:app)?\.com/channels/(?P<guild>\d+)/(?P<channel>\d+)/)?(?P<message>\d{1,20})"
)


def _moderator_only(interaction: discord.Interaction) -> bool:
    if not is_moderator(interaction):
        raise app_commands.CheckFailure("This command is for moderators (Manage Messages permission).")
    return True


async def _in_thread(interaction: discord.Interaction, method: str, *args: Any, **kwargs: Any) -> Any:
    bot: BotContext = interaction.client  # type: ignore[assignment]
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


@mod.command(name="hide", description="Hide a job's images everywhere; with a link to its message, delete that too")
@app_commands.describe(
    job_id="The job number shown under the result",
    message="Link to the result message (right-click > Copy Message Link) to delete it as well",
)
@app_commands.check(_moderator_only)
async def hide(interaction: discord.Interaction, job_id: app_commands.Range[int, 1], message: str | None = None, reason: str = "") -> None:
    await interaction.response.defer(ephemeral=True, thinking=True)
    try:
        result = await _fetch_result(interaction, message) if message else None
        if result is not None and job_id not in job_ids_in(result):
            raise Refusal(f"That message does not show job {job_id}; nothing was changed.")
        summary = await _hide_jobs(interaction, [job_id], reason)
    except Refusal as refusal:
        await _reply(interaction, f"❌ {refusal}")
        return
    if result is not None:
        summary += await _delete_result(interaction, result, [job_id])
    await _reply(interaction, summary)


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
    try:
        if not job_ids or message.author.id != interaction.client.user.id:  # type: ignore[union-attr]
            raise Refusal("That message is not a glyphbot result.")
        summary = await _hide_jobs(interaction, job_ids, "hidden from message")
    except Refusal as refusal:
        await _reply(interaction, f"❌ {refusal}")
        return
    await _reply(interaction, summary + await _delete_result(interaction, message, job_ids))


class Refusal(Exception):
    """A moderator request that cannot be carried out; the message says why, and nothing was changed."""


async def _fetch_result(interaction: discord.Interaction, link: str) -> discord.Message:
    """The bot's result message a moderator linked to (or gave the id of, in this channel)."""
    found = MESSAGE_LINK.fullmatch(link.strip())
    if found is None:
        raise Refusal("Give the message as its link (right-click the message > Copy Message Link) or its id.")
    if found["guild"] and int(found["guild"]) != interaction.guild_id:
        raise Refusal("That message is in another server.")
    channel_id = int(found["channel"]) if found["channel"] else interaction.channel_id or 0
    channel = interaction.client.get_partial_messageable(channel_id, guild_id=interaction.guild_id)
    try:
        message = await channel.fetch_message(int(found["message"]))
    except discord.NotFound:
        raise Refusal("There is no such message (was it deleted already?).") from None
    except discord.Forbidden:
        raise Refusal("I may not read that channel, so I cannot check the message.") from None
    if message.author.id != interaction.client.user.id:  # type: ignore[union-attr]
        raise Refusal("That message is not a glyphbot result.")
    return message


async def _delete_result(interaction: discord.Interaction, message: discord.Message, job_ids: list[int]) -> str:
    """Delete a result message (already hidden) and audit it; returns the sentence for the moderator."""
    with contextlib.suppress(discord.NotFound):
        await message.delete()
    await _in_thread(interaction, "record", actor(interaction), "delete_message", f"message:{message.id}", jobs=job_ids)
    return " The message was deleted."


async def _hide_jobs(interaction: discord.Interaction, job_ids: list[int], reason: str) -> str:
    """Hide every image of the jobs (all checked first, so a refusal changes nothing)."""
    bot: BotContext = interaction.client  # type: ignore[assignment]
    for job_id in job_ids:
        try:
            job = await bot.jobs.get(job_id)
        except JobNotFound:
            raise Refusal(f"No job {job_id}.") from None
        if not moderates(interaction, job):
            raise Refusal(f"Job {job_id} was not made in this server.")
    hidden = 0
    for job_id in job_ids:
        for image in await bot.jobs.images_of(job_id, include_hidden=True):
            await _in_thread(interaction, "hide_image", image.sha256, moderator=actor(interaction), reason=reason or f"job {job_id}")
            hidden += 1
    return f"🙈 Hid {hidden} image(s) of job(s) {', '.join(map(str, job_ids))}."


COMMANDS: list[app_commands.Command[Any, ..., Any] | app_commands.Group | app_commands.ContextMenu] = [mod, hide_message]
