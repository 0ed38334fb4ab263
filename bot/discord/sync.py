"""Sync the application command tree only when its payload changed.

Discord allows 200 command creations per day; syncing on every start burns that budget during
development and restarts. The hash of the exact JSON we would send is kept in a small state file
per application, and the sync is skipped when it matches.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from discord import app_commands

log = logging.getLogger(__name__)


def command_payload(tree: app_commands.CommandTree[Any]) -> list[dict[str, Any]]:
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    return sorted(payload, key=lambda c: (c.get("type", 1), c["name"]))


def payload_hash(payload: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


async def sync_if_changed(tree: app_commands.CommandTree[Any], state_dir: Path, application_id: int) -> bool:
    """Sync global commands when they differ from the last successful sync; True when a sync happened."""
    digest = payload_hash(command_payload(tree))
    state_file = state_dir / f"commands-{application_id}.sha256"
    if state_file.exists() and state_file.read_text().strip() == digest:
        log.info("command tree unchanged (%s); not syncing", digest[:12])
        return False
    await tree.sync()
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = state_file.with_suffix(".tmp")
    temporary.write_text(digest + "\n")
    temporary.replace(state_file)
    log.info("command tree synced (%s)", digest[:12])
    return True
