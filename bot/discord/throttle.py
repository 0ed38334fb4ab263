"""Pacing of progress edits: at most one edit per interval, always ending with the latest state.

Discord rate-limits edits of one message; editing on every diffusion step would queue up hundreds of
requests and deliver the result late. The throttle keeps only the newest pending text.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class EditThrottle:
    """Decides when the next edit may go out; pure apart from the injected clock."""

    def __init__(self, min_interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last_sent: float | None = None

    def wait_time(self) -> float:
        """Seconds to wait before an edit may be sent now (0 when it may go at once)."""
        if self._last_sent is None:
            return 0.0
        return max(0.0, self._last_sent + self.min_interval_s - self.clock())

    def mark_sent(self) -> None:
        self._last_sent = self.clock()
