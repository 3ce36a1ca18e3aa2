"""Hybrid search: a text search and a vector search fused by reciprocal rank fusion.

Each document's fused score is the sum over the two rankings it appears in of
`1 / (RRF_K + rank)`, ranks counted from 1. RRF_K = 60 is the constant of the
original RRF paper (Cormack et al., 2009): large enough that the top few ranks of
one list do not drown the other. Each list contributes its best `DEPTH` results.
Both searches read at the transaction's snapshot and join its read set, so a
hybrid search in a query is reactive like each of its parts.
"""

from __future__ import annotations

from typing import Any, Final

from reactor.errors import InvalidValueError
from reactor.transactions.query import QueryBuilder
from reactor.transactions.transaction import Transaction
from reactor.transactions.vector_search import MAX_LIMIT, run_vector_search

RRF_K: Final = 60
DEPTH: Final = 256


async def run_hybrid_search(txn: Transaction, table_name: str, *, text_index: str, text: str,
                            vector_index: str, vector: Any, limit: Any = 10,
                            eq: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """`[{"_id", "_score"}]`, best fused score first; `eq` ({field: value}, at most one)
    filters both searches on a filter field they share."""
    if eq is not None and (not isinstance(eq, dict) or len(eq) > 1):
        raise InvalidValueError(f"hybrid_search({table_name}): eq must be a dict with at most"
                                f" one filter field, got {eq!r}")
    filters = list((eq or {}).items())
    vector_hits = await run_vector_search(
        txn, table_name, vector_index, vector=vector, limit=MAX_LIMIT,
        filter=(lambda q: q.eq(*filters[0])) if filters else None)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidValueError(f"hybrid_search({table_name}): limit must be an integer from 1"
                                f" to {MAX_LIMIT}, got {limit!r}")
    query = QueryBuilder(txn, table_name)
    index = query.search_index_definition(text_index)

    def build(q: Any) -> Any:
        q = q.search(index.search_field, text)
        return q.eq(*filters[0]) if filters else q

    text_docs = await query.with_search_index(text_index, build).take(DEPTH)
    fused: dict[str, float] = {}
    rankings = ([doc["_id"] for doc in text_docs], [hit["_id"] for hit in vector_hits[:DEPTH]])
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            fused[doc_id] = fused.get(doc_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(fused.items(), key=lambda item: item[1], reverse=True)[:limit]
    return [{"_id": doc_id, "_score": score} for doc_id, score in best]
