"""The write log: index keys touched by recent commits, for OCC and subscriptions."""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from reactor.transactions.readset import ReadSet

# One index key whose content changed at a commit (a document's old or new position),
# as (index id, key). A plain tuple: the garbage collector stops tracking tuples of
# strings and bytes, and the log holds several of them per commit.
KeyWrite = tuple[str, bytes]

# How long commits stay in the log when no transaction or subscription step needs
# them: OCC looks back only to the oldest live snapshot, subscriptions one step.
DEFAULT_WINDOW_NS = 5_000_000_000


class LogEntry(NamedTuple):
    ts: int
    writes: tuple[KeyWrite, ...]


@dataclass(frozen=True, slots=True)
class Conflict:
    ts: int
    index_id: str


class WriteLog:
    """Commits in timestamp order; the oldest are dropped past a time window.

    A transaction that began before the oldest retained entry cannot be
    validated and is treated as conflicting (it is simply re-run).
    """

    def __init__(self, window_ns: int = DEFAULT_WINDOW_NS) -> None:
        self.window_ns = window_ns
        self._entries: deque[LogEntry] = deque()
        self._timestamps: deque[int] = deque()
        self.horizon_ts = 0

    def restart_at(self, ts: int) -> None:
        """Forget everything and validate nothing that began before `ts`: a node that
        takes over committing knows the keys of no commit made before it did."""
        self._entries.clear()
        self._timestamps.clear()
        self.horizon_ts = ts

    def append(self, entry: LogEntry) -> None:
        self._entries.append(entry)
        self._timestamps.append(entry.ts)

    def discard_after(self, ts: int) -> None:
        """Drop entries newer than `ts` (a failed batch that never became durable)."""
        while self._entries and self._entries[-1].ts > ts:
            self._entries.pop()
            self._timestamps.pop()

    def trim(self, now_ts: int, keep_after: int | None = None) -> None:
        """Forget entries older than the window, but never those after `keep_after`."""
        limit = now_ts - self.window_ns
        if keep_after is not None:
            limit = min(limit, keep_after)
        while self._entries and self._entries[0].ts <= limit:
            self.horizon_ts = self._entries.popleft().ts
            self._timestamps.popleft()

    def since(self, after_ts: int, until_ts: int | None = None) -> list[LogEntry]:
        start = bisect_right(self._timestamps, after_ts)
        entries = [self._entries[i] for i in range(start, len(self._entries))]
        if until_ts is not None:
            entries = [entry for entry in entries if entry.ts <= until_ts]
        return entries

    def first_conflict(self, read_set: ReadSet, after_ts: int) -> Conflict | None:
        """The first write after `after_ts` that falls inside `read_set`, if any."""
        if after_ts < self.horizon_ts:
            return Conflict(self.horizon_ts, "")
        # A batch validates each of its transactions against all the commits before
        # it: skip what cannot overlap cheaply (most writes are to indexes not read).
        read = read_set.intervals
        if not read:
            return None
        for entry in self.since(after_ts):
            for index_id, key in entry.writes:
                if index_id in read and read_set.overlaps(index_id, key):
                    return Conflict(entry.ts, index_id)
        return None
