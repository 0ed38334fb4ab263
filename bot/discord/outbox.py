"""Deliveries in flight, kept on disk so a restarted bot still posts the results of earlier requests.

An entry is written when a request is queued and removed once its result was posted (or could not
be). After a restart the interaction tokens are gone with the old process (and are never written
to disk), so recovered deliveries post to the channel with a mention. One small JSON file per
entry, replaced atomically: a crash mid-write leaves either the old file or the new one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PendingDelivery:
    key: str
    job_ids: list[int]
    user_id: int
    channel_id: int
    guild_id: int | None
    prompt: str
    note: str = ""


class Outbox:
    """Blocking file operations: call them through `asyncio.to_thread` from the event loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def add(self, entry: PendingDelivery) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self._path(entry.key).with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(entry)))
        temporary.replace(self._path(entry.key))

    def remove(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def entries(self) -> list[PendingDelivery]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                found.append(PendingDelivery(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError) as error:
                log.warning("ignoring unreadable pending delivery %s: %s", path.name, error)
        return found

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.json"
