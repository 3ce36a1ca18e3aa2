"""Token buckets per key: how many requests of one kind each caller may make per minute."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """`per_minute` requests per key, in bursts of up to `per_minute`; idle keys are forgotten."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 if a request by `key` may go ahead now (and count it), else seconds to wait."""
        now = self._clock()
        rate = self.per_minute / 60.0
        tokens, then = self._buckets.get(key, (self.per_minute, now))
        tokens = min(self.per_minute, tokens + (now - then) * rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate
        if len(self._buckets) >= self._max_keys and key not in self._buckets:
            self._forget_full(now, rate)
        self._buckets[key] = (tokens - 1, now)
        return 0.0

    def _forget_full(self, now: float, rate: float) -> None:
        """Drop the keys whose buckets have refilled: they behave like new keys."""
        self._buckets = {key: (tokens, then) for key, (tokens, then) in self._buckets.items()
                         if tokens + (now - then) * rate < self.per_minute}
