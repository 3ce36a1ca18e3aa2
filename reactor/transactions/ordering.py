"""One client's mutations commit in the order it sent them, while their handlers overlap.

A client may have several mutations in flight; they must take effect one after
another, as if each ran alone after the one before. Running them strictly one
at a time would leave each client with one mutation per group-commit batch and
the event loop idle during every fsync. Instead each mutation holds a
`CommitTicket` linked to its predecessor's:

- its handler runs at once, at the latest snapshot;
- its commit is queued only after the predecessor's, and names the predecessor's
  attempt, so the committer rejects it (as a conflict) if that attempt was
  rejected; OCC validation against the predecessor's writes does the rest;
- an attempt that ends without committing (an error, or nothing written) waits
  for the predecessor to finish and then checks that nothing it read changed;
- every retry waits for the predecessor to finish first, so it sees its writes.

The serial order is therefore the order sent, whatever overlapped.
"""

from __future__ import annotations

import asyncio
from typing import Any


class CommitTicket:
    """A mutation's place in its client's sequence.

    Done means this mutation and every one before it have finished: a mutation
    that finishes early (it failed before running, say) completes only once its
    predecessor has, so the order stays transitive.
    """

    __slots__ = ("_done", "_queued", "attempt", "previous")

    def __init__(self, previous: CommitTicket | None) -> None:
        loop = asyncio.get_running_loop()
        self.previous = previous if previous is not None and not previous.done else None
        # The committer's record of the attempt last queued (its `after` link for the next).
        self.attempt: Any = None
        self._queued: asyncio.Future[None] = loop.create_future()
        self._done: asyncio.Future[None] = loop.create_future()

    @property
    def done(self) -> bool:
        return self._done.done()

    def predecessor(self) -> CommitTicket | None:
        """The predecessor while it is not done."""
        previous = self.previous
        return previous if previous is not None and not previous.done else None

    async def wait_queued(self) -> None:
        """Until an attempt of this mutation is queued for commit, or it is done."""
        await _wait(self._queued)

    async def wait_done(self) -> None:
        await _wait(self._done)

    def queued(self, attempt: Any) -> None:
        self.attempt = attempt
        if not self._queued.done():
            self._queued.set_result(None)

    def finish(self) -> None:
        """The mutation has committed or failed for good; done once its predecessor is."""
        previous = self.predecessor()
        if previous is None:
            self._complete()
        else:
            previous._done.add_done_callback(lambda _: self._complete())

    def _complete(self) -> None:
        for future in (self._queued, self._done):
            if not future.done():
                future.set_result(None)
        self.previous = None
        self.attempt = None


async def _wait(future: asyncio.Future[None]) -> None:
    """Wait without cancelling the shared future when the waiter is cancelled."""
    if not future.done():
        await asyncio.shield(future)


class CommitOrder:
    """Hands out tickets in the order one client sent its mutations."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: CommitTicket | None = None

    def next(self) -> CommitTicket:
        ticket = CommitTicket(self._last)
        self._last = ticket
        return ticket
