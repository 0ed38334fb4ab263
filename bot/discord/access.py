"""Who may do what: requesters manage their own jobs, moderators (Manage Messages) those of their guild.

`default_permissions` on the commands only hides them in Discord's UI and server admins can change
it, so every moderator action checks the permission again here.
"""

from __future__ import annotations

import discord

from storage.types import Job


def place_of(interaction: discord.Interaction) -> str:
    """The storage `place` of a guild: moderators' scope and the per-place queue limit use it."""
    return f"guild:{interaction.guild_id}" if interaction.guild_id else f"dm:{interaction.user.id}"


def actor(interaction: discord.Interaction) -> str:
    """How a Discord user appears in the audit log."""
    return f"discord:{interaction.user.id} ({interaction.user.name})"


def is_moderator(interaction: discord.Interaction) -> bool:
    return interaction.guild_id is not None and interaction.permissions.manage_messages


def owns(interaction: discord.Interaction, job: Job) -> bool:
    return job.source == "discord" and job.requester_id == str(interaction.user.id)


def moderates(interaction: discord.Interaction, job: Job) -> bool:
    """A moderator acts on jobs made in their own guild only."""
    return is_moderator(interaction) and job.place == place_of(interaction)


def may_manage(interaction: discord.Interaction, job: Job) -> bool:
    return owns(interaction, job) or moderates(interaction, job)
