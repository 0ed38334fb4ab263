"""The Discord client: wires commands, persistent buttons and deliveries to storage's async job API.

Entry point for `glyphbot serve`: `await run_discord_bot(settings, jobs)` where `jobs` is a
`storage.async_api.AsyncJobs`. Nothing here blocks the event loop: the database is reached through
`AsyncJobs` (threads) and moderation calls go through `asyncio.to_thread`; no torch is imported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.discord import job_actions
from bot.discord.buttons import JobButton
from bot.discord.cooldown import Cooldowns
from bot.discord.delivery import Delivery, Target
from bot.discord.form import imagine_lines_command, is_form, submit_form
from bot.discord.imagine import imagine_command, refuse, too_late
from bot.discord.lookup import history_command, job_command
from bot.discord.moderation import COMMANDS as MODERATION_COMMANDS
from bot.discord.outbox import Outbox
from bot.discord.settings import DiscordSettings
from bot.discord.styles import StyleLister, StyleNames
from bot.discord.sync import sync_if_changed
from bot.discord.tween import tween_command
from storage.async_api import AsyncJobs
from storage.errors import DatabaseUnavailable
from storage.moderation import Moderation

log = logging.getLogger(__name__)


async def answer_failure(interaction: discord.Interaction, what: str, error: BaseException) -> None:
    """Tell the user why their command, click or form failed, and log it; only log it when Discord
    no longer takes answers for the interaction."""
    if too_late(error):
        log.warning("%s of interaction %s could not be acknowledged in time (Discord's 3 s had passed); dropped", what, interaction.id)
    elif isinstance(error, DatabaseUnavailable):
        log.warning("%s: %s", what, error)
        await refuse(interaction, "The database is unavailable right now; please try again in a minute.")
    else:
        log.error("%s failed", what, exc_info=error)
        await refuse(interaction, "Something went wrong on our side; the error was logged.")


class GlyphTree(app_commands.CommandTree["GlyphBot"]):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            await refuse(interaction, str(error) or "You cannot use this command here.")
            return
        name = interaction.command.name if interaction.command else "?"
        await answer_failure(interaction, f"command {name}", getattr(error, "original", error))


class GlyphBot(discord.Client):
    """One bot process. `styles` feeds the style option's autocomplete (default: the queue's style store;
    none: it offers nothing); `client_options` reach `discord.Client` (tests shorten `guild_ready_timeout`)."""

    def __init__(
        self, settings: DiscordSettings, jobs: AsyncJobs, moderation: Moderation, styles: StyleLister | None = None,
        **client_options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channel and permission data for interactions; no message content needed
        # Messages quote users' prompts: "<@id>" or "@everyone" in a prompt must not ping anyone. Only the
        # late-result channel post allows one mention, of the requester.
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **client_options)
        self.settings = settings
        self.jobs = jobs
        self.moderation = moderation
        self.cooldowns = Cooldowns(settings.cooldown_s)
        self.outbox = Outbox(Path(settings.state_dir) / "outbox")
        self.style_names = StyleNames(styles if styles is not None else jobs.queue.styles)
        self.tree = GlyphTree(self)
        self._tasks: set[asyncio.Task[None]] = set()
        for command in (imagine_command, imagine_lines_command, tween_command, history_command, job_command, *MODERATION_COMMANDS):
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        self.add_dynamic_items(JobButton)
        for pending in await asyncio.to_thread(self.outbox.entries):
            log.info("resuming delivery of jobs %s to channel %s after a restart", pending.job_ids, pending.channel_id)
            self.spawn(Delivery(self, Target.recovered(pending), pending).run(), name=f"deliver-{pending.job_ids[0]}")
        if self.settings.sync_commands:
            await sync_if_changed(self.tree, Path(self.settings.state_dir), self.application_id or 0, self.settings.guild_ids)

    def spawn(self, coroutine: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run a delivery in the background, keeping a reference so it is not garbage-collected mid-way."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def on_job_button(self, interaction: discord.Interaction, action: str, job_id: int) -> None:
        await self._answer(interaction, f"button {action} on job {job_id}", job_actions.handle(self, interaction, action, job_id))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Forms are routed here by custom_id (commands and buttons have their own routes)."""
        if is_form(interaction):
            await self._answer(interaction, f"form {interaction.id}", submit_form(interaction))

    async def _answer(self, interaction: discord.Interaction, what: str, action: Coroutine[Any, Any, None]) -> None:
        """Run a button's or form's action; whatever goes wrong, the user gets an answer, not an endless "thinking"."""
        try:
            await action
        except Exception as error:
            await answer_failure(interaction, what, error)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().close()


async def run_discord_bot(
    settings: Any, jobs: AsyncJobs, moderation: Moderation | None = None, styles: StyleLister | None = None
) -> None:
    """Run the bot until it is closed. `settings` is the app settings (its `discord` section) or DiscordSettings;
    `styles` defaults to the queue's style store."""
    discord_settings = DiscordSettings.from_settings(settings)
    if not discord_settings.token:
        raise RuntimeError("no Discord token: set the GLYPHBOT_DISCORD__TOKEN environment variable")
    bot = GlyphBot(discord_settings, jobs, moderation or Moderation(jobs.queue.db), styles)
    async with bot:
        await bot.start(discord_settings.token)
