"""Retention planning shared by the SQL stores: which revisions a prune pass deletes.

A pass walks revisions in commit order `(ts, id, key)` from a persisted watermark
up to the horizon. Each visited revision R deletes the revision it directly
supersedes; if R is a tombstone it goes too, after that one (deleting it first
would resurrect it). Older revisions were already deleted when their own
successors were visited, so every revision is visited once and no pass rescans
old ground.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

# Revisions examined per transaction; bounds how long one pass holds the writer.
CHUNK = 256

# The watermark of a store that was never pruned: before every revision.
START: tuple[int, str, bytes] = (-1, "", b"")


@dataclass(frozen=True, slots=True)
class PruneTarget:
    """One multi-version table: how to list visit candidates and delete a revision."""

    name: str
    key_width: int
    candidates_sql: str
    delete_sql: str



# One row per candidate: its position, whether it is a tombstone, and the ts
# of the revision it directly supersedes (older ones went when that was visited).
# The placeholders are the store's parameter markers.
_DOCUMENT_CANDIDATES = """
    SELECT c.ts, c.doc_id, c.deleted,
        (SELECT max(p.ts) FROM documents AS p WHERE p.doc_id = c.doc_id AND p.ts < c.ts)
    FROM documents AS c
    WHERE (c.ts, c.doc_id) > ({ts}, {id}) AND c.ts <= {horizon}
    ORDER BY c.ts, c.doc_id LIMIT {limit}
"""
_ENTRY_CANDIDATES = """
    SELECT c.ts, c.index_id, c.key, c.deleted,
        (SELECT max(p.ts) FROM index_entries AS p
         WHERE p.index_id = c.index_id AND p.key = c.key AND p.ts < c.ts)
    FROM index_entries AS c
    WHERE (c.ts, c.index_id, c.key) > ({ts}, {id}, {key}) AND c.ts <= {horizon}
    ORDER BY c.ts, c.index_id, c.key LIMIT {limit}
"""


def targets(marks: dict[str, str], row: tuple[str, str, str]) -> tuple[PruneTarget, PruneTarget]:
    """The documents and index-entries targets in one SQL dialect: `marks` are the
    candidate query's parameters by name, `row` the markers of a deletion's three."""
    return (
        PruneTarget("documents", 1, _DOCUMENT_CANDIDATES.format(**marks),
                    f"DELETE FROM documents WHERE doc_id = {row[0]} AND ts = {row[1]}"),
        PruneTarget("index_entries", 2, _ENTRY_CANDIDATES.format(**marks),
                    f"DELETE FROM index_entries WHERE index_id = {row[0]} AND key = {row[1]}"
                    f" AND ts = {row[2]}"),
    )


async def walk(targets: tuple[PruneTarget, ...], batch: int,
               chunk: Callable[[PruneTarget, int], Awaitable[tuple[int, bool]]]) -> int:
    """Run `chunk(target, budget)` (one transaction: rows deleted, walk finished) over
    each target in turn until `batch` rows went or every walk finished."""
    removed = 0
    for target in targets:
        finished = False
        while not finished and removed < batch:
            count, finished = await chunk(target, batch - removed)
            removed += count
    return removed


@dataclass(slots=True)
class ChunkPlan:
    """What one transaction of a pass does: rows to delete and where the walk got to."""

    doomed: list[tuple[Any, ...]]
    watermark: tuple[int, str, bytes] | None
    finished: bool


def plan_chunk(rows: list[Any], key_width: int, budget: int) -> ChunkPlan:
    """Turn candidate rows `(ts, *key, deleted, superseded_ts | None)` into deletions.

    A candidate whose deletions do not fit in `budget` is trimmed to the older
    revision and the watermark stays before it, so the next pass finishes it.
    """
    doomed: list[tuple[Any, ...]] = []
    seen: set[tuple[Any, ...]] = set()
    watermark: tuple[int, str, bytes] | None = None
    for row in rows:
        ts, key, deleted, older_ts = row[0], tuple(row[1 : 1 + key_width]), row[-2], row[-1]
        # A tombstone deleted earlier in this chunk is still the older revision
        # of a re-insert after it: skip what is already doomed.
        deletions: list[tuple[Any, ...]] = []
        if older_ts is not None and (*key, older_ts) not in seen:
            deletions.append((*key, older_ts))
        if deleted:
            deletions.append((*key, ts))
        if len(deletions) > budget - len(doomed):
            doomed.extend(deletions[: budget - len(doomed)])
            return ChunkPlan(doomed, watermark, finished=False)
        doomed.extend(deletions)
        seen.update(deletions)
        watermark = (ts, key[0], key[1] if key_width > 1 else b"")
    return ChunkPlan(doomed, watermark, finished=len(rows) < CHUNK)
