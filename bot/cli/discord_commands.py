"""`glyphbot discord`: run the Discord bot against the configured database (workers run separately).

The token comes from GLYPHBOT_DISCORD__TOKEN or `discord.token_file`; it is never printed.
"""

from __future__ import annotations

import typer

from bot.cli.app import app


@app.command("discord")
def discord_bot() -> None:
    """Run the Discord bot until interrupted (start `glyphbot worker` too, here or on a GPU host)."""
    import asyncio
    import logging

    from bot.discord.client import run_discord_bot
    from bot.discord.settings import DiscordSettings
    from config.settings import SettingsError, load_settings
    from storage.errors import StorageError
    from storage.facade import open_storage

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
        discord_settings = DiscordSettings.from_settings(settings)
        if not discord_settings.token:
            raise SettingsError("discord.token: set GLYPHBOT_DISCORD__TOKEN or discord.token_file")
        storage = open_storage(settings)
    except (SettingsError, StorageError) as error:
        typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    try:
        asyncio.run(run_discord_bot(discord_settings, storage.async_jobs(), storage.moderation))
    except KeyboardInterrupt:
        pass
    finally:
        storage.close()
