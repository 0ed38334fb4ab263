"""Waiting for the database when a long-running process starts (`glyphbot worker`, `glyphbot serve`).

A database that restarts, or boots after the hosts that use it, is unreachable for a while. Exiting
at once would leave the worker down until a supervisor restarts it; instead the opening is retried
with back-off, each attempt logged with its reason, so an operator watching the log sees why it
waits. Only DatabaseUnavailable is retried: bad settings will not fix themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from storage.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_DELAY_S = 1.0


def wait_for_database(
    open_: Callable[[], T], *, max_delay_s: float, fail_fast: bool = False, sleep: Callable[[float], None] = time.sleep
) -> T:
    """`open_()`, called again after 1 s, 2 s, 4 s ... (at most `max_delay_s` apart) for as long as
    it raises DatabaseUnavailable; with `fail_fast` the first such error is raised instead."""
    delay, attempt = FIRST_DELAY_S, 1
    while True:
        try:
            return open_()
        except DatabaseUnavailable as error:
            if fail_fast:
                raise
            log.warning("%s; attempt %d failed, retrying in %g s", error, attempt, delay)
        sleep(delay)
        delay, attempt = min(max_delay_s, delay * 2), attempt + 1
