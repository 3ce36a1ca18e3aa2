"""Token-bucket arithmetic, shared by app rate limits (stored) and the server's quotas (memory).

A bucket holds at most `capacity` tokens and refills at `rate` tokens per
`period`; taking `count` tokens succeeds when that many are there. The state is
just (tokens, when they were counted), so a bucket that has refilled completely
is the same as no bucket at all: nothing needs to be kept for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from reactor.errors import InvalidValueError


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    """`rate` tokens per `period_s` seconds, at most `capacity` saved up (a burst)."""

    rate: float
    period_s: float
    capacity: float

    @classmethod
    def of(cls, where: str, rate: object, period: object,
           capacity: object = None) -> BucketPolicy:
        """Check the arguments of a call like `rate_limit(rate=5, period=timedelta(...))`."""
        if not _positive(rate):
            raise InvalidValueError(f"{where}: rate must be a positive number of tokens,"
                                    f" got {rate!r}")
        if isinstance(period, timedelta):
            period_s = period.total_seconds()
        elif _positive(period):
            period_s = float(period)  # type: ignore[arg-type]
        else:
            period_s = -1.0
        if period_s <= 0:
            raise InvalidValueError(f"{where}: period must be a positive timedelta or number"
                                    f" of seconds, got {period!r}")
        if capacity is None:
            capacity = rate
        if not _positive(capacity):
            raise InvalidValueError(f"{where}: capacity must be a positive number of tokens,"
                                    f" got {capacity!r}")
        return cls(float(rate), period_s, float(capacity))  # type: ignore[arg-type]

    @property
    def per_second(self) -> float:
        return self.rate / self.period_s

    def level(self, tokens: float, counted_at_s: float, now_s: float) -> float:
        """Tokens in the bucket at `now_s`, given `tokens` counted at `counted_at_s`."""
        elapsed = max(0.0, now_s - counted_at_s)
        return min(self.capacity, tokens + elapsed * self.per_second)

    def wait_for(self, tokens: float, count: float) -> float:
        """Seconds until a bucket holding `tokens` holds `count`."""
        return max(0.0, (count - tokens) / self.per_second)

    def full_after(self, tokens: float) -> float:
        """Seconds until a bucket holding `tokens` is full again."""
        return self.wait_for(tokens, self.capacity)


@dataclass(frozen=True, slots=True)
class Taken:
    """The result of one `take`: whether it succeeded, the tokens left, the wait."""

    ok: bool
    tokens: float
    retry_after_s: float


def take(policy: BucketPolicy, tokens: float, counted_at_s: float, now_s: float,
         count: float = 1.0) -> Taken:
    """Take `count` tokens at `now_s` if there are that many; a refusal takes nothing."""
    level = policy.level(tokens, counted_at_s, now_s)
    if level >= count:
        return Taken(True, level - count, 0.0)
    return Taken(False, level, policy.wait_for(level, count))


def _positive(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)
