"""Token buckets per caller: a burst allowance that refills at a steady rate.

In memory and per process on purpose: limits protect this process from one noisy client, and a
restart forgetting the buckets only ever lets a client in sooner, never locks one out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`take(key, per_minute)` spends one token or says how many seconds until one is available."""

    def __init__(self, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[Hashable, _Bucket] = {}

    def take(self, key: Hashable, per_minute: float) -> int | None:
        """None when allowed; otherwise the whole seconds to wait before the next request (for Retry-After)."""
        rate = per_minute / 60.0
        bucket = self._refilled(key, rate, create=True)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def wait(self, key: Hashable, per_minute: float) -> int | None:
        """What `take` would answer, without spending a token."""
        rate = per_minute / 60.0
        bucket = self._refilled(key, rate)
        if bucket is None or bucket.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def used(self, key: Hashable, per_minute: float) -> bool:
        """Whether `key` spent tokens that have not refilled yet."""
        bucket = self._refilled(key, per_minute / 60.0)
        return bucket is not None and bucket.tokens < self.burst

    def _refilled(self, key: Hashable, rate: float, *, create: bool = False) -> _Bucket | None:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if not create:
                return None
            if len(self._buckets) >= self.max_keys:
                self._forget_full(now, rate)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        return bucket

    def reset(self, key: Hashable) -> None:
        self._buckets.pop(key, None)

    def _forget_full(self, now: float, rate: float) -> None:
        # A bucket that has refilled is the same as no bucket, so dropping those bounds memory safely.
        self._buckets = {k: b for k, b in self._buckets.items() if b.tokens + (now - b.updated) * rate < self.burst}
