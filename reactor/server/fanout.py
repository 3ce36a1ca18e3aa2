"""What the sync sessions of one server share when a commit is pushed to many of them.

A commit that changes a query a thousand clients hold owes each of them a
Transition, and usually the same one: the clients are at the same query set and
identity versions, last saw the same timestamp and hold the same query id on the
same shared result. The first session of such a group encodes the Transition;
the others reuse its frames (and the WebSocket protocol frames the bytes once,
connections.py). Sessions whose messages would differ in any byte get their own.

Encoded Transitions are kept only until the event loop's next pass: the sessions a
commit wakes all flush in one pass (each wake-up schedules its flush at once), so
nothing more is needed, and nothing (results, frames) stays held between commits
or while clients merely subscribe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from reactor.server import protocol as p
from reactor.server.outgoing import Change, modification, transition_frames

# Bounds on the Transitions kept for one pass: when clients hold different queries
# most are never shared, and a pass may push a great many bytes.
MAX_SHARED_TRANSITIONS = 256
MAX_SHARED_BYTES = 8 * 1024 * 1024


class Fanout:
    """The Transitions encoded in this pass of the event loop, by everything their bytes
    depend on, and where pushes report their latency."""

    def __init__(self, chunk_chars: int,
                 on_push: Callable[[float], None] | None = None) -> None:
        self.chunk_chars = chunk_chars
        # Told, after a Transition carrying changes is written, the seconds since the
        # commit it shows (commit timestamps are wall-clock nanoseconds).
        self.on_push = on_push
        self._shared: dict[tuple[object, ...], tuple[p.StateVersion, list[bytes]]] = {}
        self._shared_bytes = 0
        # Transitions encoded, and sent again as another session's bytes (debug stats).
        self.encoded = 0
        self.shared = 0

    def transition(self, start: p.StateVersion, start_ts: int, query_set: int, identity: int,
                   ts: int, changes: list[Change]) -> tuple[p.StateVersion, list[bytes]]:
        """The end version and frames of the Transition from `start` (at `start_ts`) to
        (`query_set`, `identity`, `ts`) carrying `changes`. Both are shared: callers must
        not change them."""
        key = (start.querySet, start.identity, start_ts, query_set, identity, ts, *changes)
        shared = self._shared.get(key)
        if shared is not None:
            self.shared += 1
            return shared
        self.encoded += 1
        end = p.StateVersion(querySet=query_set, identity=identity, ts=p.encode_ts(ts))
        transition = p.Transition(startVersion=start, endVersion=end,
                                  modifications=[modification(change) for change in changes])
        frames = transition_frames(transition, self.chunk_chars)
        size = sum(len(frame) for frame in frames)
        if (len(self._shared) < MAX_SHARED_TRANSITIONS
                and self._shared_bytes + size <= MAX_SHARED_BYTES):
            if not self._shared:
                asyncio.get_running_loop().call_soon(self._forget)
            self._shared[key] = (end, frames)
            self._shared_bytes += size
        return end, frames

    def _forget(self) -> None:
        """The pass is over: let go of its Transitions (and the results they show)."""
        self._shared.clear()
        self._shared_bytes = 0
