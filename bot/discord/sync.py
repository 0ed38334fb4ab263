"""Sync the application command tree only when its payload changed.

Discord allows 200 command creations per day; syncing on every start burns that budget during
development and restarts. The hash of the exact JSON we would send is kept in a small state file
per application, and the sync is skipped when it matches.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger(__name__)


def command_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    return sorted(payload, key=lambda c: (c.get("type", 1), c["name"]))


def payload_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def sync_if_changed(
    tree: app_commands.CommandTree[Any], state_dir: Path, application_id: int, guild_ids: Sequence[int] = ()
) -> bool:
    """Sync when the commands (or the target guilds) differ from the last successful sync; True when synced.

    With `guild_ids` (development) the commands are copied to those guilds, where changes show at
    once; otherwise they are global.
    """
    digest = payload_hash({"guilds": sorted(guild_ids), "commands": command_payload(tree)})
    state_file = state_dir / f"commands-{application_id}.sha256"
    if await asyncio.to_thread(_read_digest, state_file) == digest:
        log.info("command tree unchanged (%s); not syncing", digest[:12])
        return False
    if guild_ids:
        for guild_id in guild_ids:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
    else:
        await tree.sync()
    await asyncio.to_thread(_write_digest, state_file, digest)
    log.info("command tree synced (%s)", digest[:12])
    return True


def _read_digest(state_file: Path) -> str | None:
    return state_file.read_text().strip() if state_file.exists() else None


def _write_digest(state_file: Path, digest: str) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    temporary = state_file.with_suffix(".tmp")
    temporary.write_text(digest + "\n")
    temporary.replace(state_file)
