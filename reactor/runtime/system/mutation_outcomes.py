"""`_mutation_outcomes`: results of client mutations by (sessionId, requestId), for idempotency.

A client re-sends an unanswered mutation after reconnecting; the outcome is
written by the mutation's own transaction, so a retry finds it instead of
running the mutation twice — across server restarts too.
"""

from __future__ import annotations

from typing import Any

from reactor.schema import TableDefinition, define_table
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import v

MUTATION_OUTCOMES = "_mutation_outcomes"


def mutation_outcomes_table() -> TableDefinition:
    table = define_table({
        "sessionId": v.string(),
        "requestId": v.number(),
        "value": v.any(),
        "recordedAt": v.number(),
    }).index("by_request", ["sessionId", "requestId"]).index("by_recorded", ["recordedAt"])
    table.name = MUTATION_OUTCOMES
    return table


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
        return await (QueryBuilder(txn, MUTATION_OUTCOMES)
                      .with_index("by_request", lambda q: q.eq("sessionId", self.session_id)
                                  .eq("requestId", self.request_id))
                      .first())

    async def record(self, txn: Transaction, value: Any, now_ms: float) -> None:
        await txn.insert(MUTATION_OUTCOMES, {"sessionId": self.session_id,
                                             "requestId": self.request_id, "value": value,
                                             "recordedAt": now_ms})


async def prune_outcomes(txn: Transaction, cutoff_ms: float, batch: int) -> int:
    """Delete up to `batch` outcomes recorded before `cutoff_ms`; how many."""
    old = await (QueryBuilder(txn, MUTATION_OUTCOMES)
                 .with_index("by_recorded", lambda q: q.lt("recordedAt", cutoff_ms))
                 .take(batch))
    for outcome in old:
        await txn.delete(outcome["_id"])
    return len(old)
