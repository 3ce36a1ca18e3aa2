"""Read sets: the index key intervals a transaction actually consumed."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeyInterval:
    """Half-open `[start, end)` over index key bytes; `end=None` is unbounded."""

    start: bytes
    end: bytes | None

    def contains(self, key: bytes) -> bool:
        return self.start <= key and (self.end is None or key < self.end)


def point_interval(key: bytes) -> KeyInterval:
    """The interval holding exactly `key` (`key + b"\\x00"` is its successor)."""
    return KeyInterval(key, key + b"\x00")


class ReadSet:
    """Intervals per index id; merged lazily so that overlapping reads count once."""

    __slots__ = ("_dirty", "_intervals")

    def __init__(self) -> None:
        self._intervals: dict[str, list[KeyInterval]] = {}
        # A dict, not a set: an empty set keeps 216 bytes, and every live query
        # holds a read set.
        self._dirty: dict[str, None] = {}

    def add(self, index_id: str, interval: KeyInterval) -> None:
        if interval.end is not None and interval.end <= interval.start:
            return
        self._intervals.setdefault(index_id, []).append(interval)
        self._dirty[index_id] = None

    def update(self, other: ReadSet) -> None:
        for index_id, interval in other.items():
            self.add(index_id, interval)

    @property
    def intervals(self) -> dict[str, list[KeyInterval]]:
        """Merged, sorted intervals per index id."""
        for index_id in self._dirty:
            self._intervals[index_id] = _merge(self._intervals[index_id])
        self._dirty.clear()
        return self._intervals

    def overlaps(self, index_id: str, key: bytes) -> bool:
        intervals = self.intervals.get(index_id)
        if not intervals:
            return False
        position = bisect_right(intervals, key, key=lambda interval: interval.start) - 1
        return position >= 0 and intervals[position].contains(key)

    def interval_count(self) -> int:
        return sum(len(intervals) for intervals in self.intervals.values())

    def items(self) -> list[tuple[str, KeyInterval]]:
        return [(index_id, iv) for index_id, ivs in self.intervals.items() for iv in ivs]


def _merge(intervals: list[KeyInterval]) -> list[KeyInterval]:
    """Sort by start and fuse overlapping or touching intervals."""
    intervals.sort(key=lambda interval: interval.start)
    merged: list[KeyInterval] = []
    for interval in intervals:
        if merged:
            last = merged[-1]
            if last.end is None or interval.start <= last.end:
                if last.end is None or (interval.end is not None and interval.end <= last.end):
                    continue
                merged[-1] = KeyInterval(last.start, interval.end)
                continue
        merged.append(interval)
    return merged
