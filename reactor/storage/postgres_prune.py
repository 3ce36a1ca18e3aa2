"""Pruning a PostgreSQL store: each function is one transaction's work, given its connection
(`PostgresStorage.prune` runs them), so a prune pass never holds the writer for long."""

from __future__ import annotations

from reactor.storage import postgres_search, prune_plan
from reactor.storage import postgres_sql as sql
from reactor.storage.postgres_schema import Conn


async def chunk(conn: Conn, *, target: prune_plan.PruneTarget, horizon_ts: int,
                budget: int) -> tuple[int, bool]:
    """Delete up to `budget` revisions of `target` no snapshot at or after `horizon_ts`
    can see, from its watermark on: (rows deleted, walk finished)."""
    mark = await conn.fetchrow(sql.READ_WATERMARK, target.name)
    ts, id_, key = tuple(mark) if mark is not None else prune_plan.START
    key_mark = (key,) if target.key_width > 1 else ()
    rows = await conn.fetch(target.candidates_sql, ts, id_, horizon_ts, prune_plan.CHUNK,
                            *key_mark)
    plan = prune_plan.plan_chunk([tuple(row) for row in rows], target.key_width, budget)
    if plan.doomed:
        await conn.executemany(target.delete_sql, plan.doomed)
    if plan.watermark is not None:
        await conn.execute(sql.WRITE_WATERMARK, target.name, *plan.watermark)
    return len(plan.doomed), plan.finished


async def vectors(conn: Conn, *, horizon_ts: int) -> str:
    """Delete vector entries and commit-log rows older than `horizon_ts`; the status."""
    await conn.execute(sql.PRUNE_COMMIT_LOG, horizon_ts)
    return str(await conn.execute(sql.PRUNE_VECTORS, horizon_ts))


async def search(conn: Conn, *, horizon_ts: int, budget: int) -> int:
    """Delete up to `budget` search entries older than `horizon_ts`; how many."""
    return int(await conn.fetchval(postgres_search.PRUNE, horizon_ts, budget))
