"""Per-user cooldown between submissions (the queue limit itself is enforced by storage at submit time).

Kept in memory on purpose: it smooths bursts from one user of one bot process; the durable limit
that holds across processes and restarts is storage's per-requester queue limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Cooldowns:
    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._last: dict[int, float] = {}

    def remaining(self, user_id: int) -> float:
        """Seconds this user must still wait (0 when they may submit now)."""
        last = self._last.get(user_id)
        return 0.0 if last is None else max(0.0, last + self.seconds - self.clock())

    def forget(self, user_id: int) -> None:
        """Undo `start` for a request that was refused: a refusal should not cost the user a wait."""
        self._last.pop(user_id, None)

    def start(self, user_id: int) -> None:
        self._last[user_id] = self.clock()
        if len(self._last) > 10_000:  # forget users whose cooldown ended, so memory stays bounded
            now = self.clock()
            self._last = {u: t for u, t in self._last.items() if t + self.seconds > now}
