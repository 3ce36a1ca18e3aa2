"""Stored results of client mutations by (sessionId, requestId), for idempotency.

A client re-sends an unanswered mutation after reconnecting; the outcome is
written by the mutation's own commit, so a retry finds it instead of running the
mutation twice — across server restarts too. A mutation that wrote nothing
stores none: running it again applies nothing. Outcomes are storage side rows,
not documents of a system table: every writing client mutation stores one, so a
row and its one key (transactions/transaction.py `record_outcome`) cost much
less than a document with its four index entries. `Database.prune_outcomes` deletes old ones
(the scheduler calls it with the retention it is configured with).
"""

from __future__ import annotations

from typing import Any

from reactor.transactions import Transaction
from reactor.values import dumps, loads


class MutationJournal:
    """Looks up and records one (sessionId, requestId) inside a mutation's transaction."""

    def __init__(self, session_id: str, request_id: int, *, resent: bool = True) -> None:
        self.session_id = session_id
        self.request_id = float(request_id)
        # False on a client's first socket: nothing can be stored yet, skip the read.
        self.resent = resent

    async def lookup(self, txn: Transaction) -> dict[str, Any] | None:
        """The stored outcome; the read also makes concurrent retries conflict (OCC)."""
        if not self.resent:
            return None
        stored = await txn.read_outcome(self.session_id, self.request_id)
        return None if stored is None else {"value": loads(stored)}

    async def record(self, txn: Transaction, value: Any, now_ms: float) -> None:
        """Store the outcome with the commit, unless the mutation wrote nothing: there is
        nothing a re-send could apply twice, so it runs again instead, and nothing is
        committed (or fsynced) now."""
        if txn.has_writes:
            txn.record_outcome(self.session_id, self.request_id, dumps(value), now_ms)

