"""What commands, buttons, forms and deliveries use of the running bot, as a protocol.

The handlers depend on this, not on `client.GlyphBot`, which imports them to register them: in the
manner of discord.py's cogs, a handler receives the bot and needs only its shape. GlyphBot is the one
implementation.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import asyncio

    import discord

    from bot.discord.cooldown import Cooldowns
    from bot.discord.outbox import Outbox
    from bot.discord.settings import DiscordSettings
    from bot.discord.styles import StyleNames
    from storage.async_api import AsyncJobs
    from storage.moderation import Moderation


class BotContext(Protocol):
    settings: DiscordSettings
    jobs: AsyncJobs
    moderation: Moderation
    cooldowns: Cooldowns
    outbox: Outbox
    style_names: StyleNames

    def spawn(self, coroutine: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run a delivery in the background."""
        ...

    async def on_job_button(self, interaction: discord.Interaction, action: str, job_id: int) -> None:
        """Answer a click on one of a job's buttons."""
        ...

    def get_partial_messageable(self, id: int, *, guild_id: int | None = None) -> discord.PartialMessageable:
        ...

    def get_guild(self, id: int, /) -> discord.Guild | None:
        ...
