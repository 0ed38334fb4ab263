"""The Discord adapter: `/imagine` with progress and persistent buttons, history, and moderator commands.

`run_discord_bot(settings, jobs)` is the entry point `glyphbot serve` uses; import it lazily, it pulls
in discord.py.
"""

from __future__ import annotations

from typing import Any


async def run_discord_bot(settings: Any, jobs: Any, moderation: Any = None, styles: Any = None) -> None:
    from bot.discord.client import run_discord_bot as run

    await run(settings, jobs, moderation, styles)
