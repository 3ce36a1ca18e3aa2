"""Pruning old versions for `SqliteStorage` (which mixes it in).

A prune pass walks documents and index entries from a stored watermark
(prune_plan.py), one bounded transaction at a time, then the text and vector
search entries, whose in-memory indexes drop what the transaction removed.
Mutation outcomes past their retention go the same way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from reactor.storage import prune_plan, sqlite_prune, sqlite_search, sqlite_vectors
from reactor.storage import sqlite_sql as sql

if TYPE_CHECKING:
    from reactor.storage.sqlite_text_indexes import TextIndexes
    from reactor.storage.sqlite_vector_indexes import VectorIndexes

T = TypeVar("T")


class Pruning:
    """`prune` and `prune_outcomes` over the writer's transactions."""

    _texts: TextIndexes
    _vectors: VectorIndexes
    _commits: int

    async def _transaction(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def prune(self, horizon_ts: int, batch: int) -> int:
        removed = await prune_plan.walk(
            (sqlite_prune.DOCUMENTS, sqlite_prune.INDEX_ENTRIES), batch,
            lambda target, budget: self._prune_chunk(target, horizon_ts, budget))
        while removed < batch:
            count = await self._prune_search_chunk(horizon_ts, min(batch - removed, 256))
            removed += count
            if count == 0:
                break
        if removed < batch:
            seq, count = await self._transaction("prune vector entries", lambda conn: (
                self._commits, sqlite_vectors.prune_entries(conn, horizon_ts)))
            self._vectors.pruned(seq, horizon_ts)
            removed += count
        return removed

    async def _prune_search_chunk(self, horizon_ts: int, budget: int) -> int:
        seq, pruned = await self._transaction("prune search entries", lambda conn: (
            self._commits, sqlite_search.prune_entries(conn, horizon_ts, budget)))
        self._texts.pruned(seq, pruned)
        return len(pruned)

    async def prune_outcomes(self, before_ms: float, batch: int) -> int:
        return await self._transaction(
            "prune mutation outcomes",
            lambda conn: conn.execute(sql.PRUNE_OUTCOMES, (before_ms, batch)).rowcount)

    async def _prune_chunk(
        self, target: prune_plan.PruneTarget, horizon_ts: int, budget: int
    ) -> tuple[int, bool]:
        """One transaction of a prune pass: returns (rows deleted, walk finished)."""

        def prune(conn: sqlite3.Connection) -> tuple[int, bool]:
            marks = conn.execute(sqlite_prune.READ_WATERMARK_SQL, (target.name,)).fetchall()
            ts, id_, key = next(iter(marks), prune_plan.START)
            params = {
                "ts": ts,
                "id": id_,
                "key": key,
                "horizon": horizon_ts,
                "limit": prune_plan.CHUNK,
            }
            rows = conn.execute(target.candidates_sql, params).fetchall()
            plan = prune_plan.plan_chunk(list(rows), target.key_width, budget)
            if plan.doomed:
                conn.executemany(target.delete_sql, plan.doomed)
            if plan.watermark is not None:
                conn.execute(sqlite_prune.WRITE_WATERMARK_SQL, (target.name, *plan.watermark))
            return len(plan.doomed), plan.finished

        return await self._transaction(f"prune {target.name}", prune)
