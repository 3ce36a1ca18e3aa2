"""Commit timestamps and creation times: unique, strictly increasing, near the wall clock."""

from __future__ import annotations

import time


class TimestampOracle:
    """Hands out u64 nanosecond commit timestamps and float-ms creation times.

    Both are strictly increasing even if the wall clock stalls or steps back, so
    they stay unique across a restart as long as the last values are restored.
    """

    # One microsecond: representable at today's epoch-ms magnitude (ULP ~0.25 us).
    CREATION_STEP_MS = 0.001

    def __init__(self, last_ts: int = 0, last_creation_ms: float = 0.0) -> None:
        self.last_ts = last_ts
        self.last_creation_ms = last_creation_ms

    def next_ts(self) -> int:
        ts = max(self.last_ts + 1, time.time_ns())
        self.last_ts = ts
        return ts

    def next_creation_time(self) -> float:
        now_ms = time.time_ns() / 1e6
        value = max(self.last_creation_ms + self.CREATION_STEP_MS, now_ms)
        self.last_creation_ms = value
        return value
