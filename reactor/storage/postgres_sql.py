"""The statements of the PostgreSQL store (tables in postgres_schema.py), `$n` parameters."""

from __future__ import annotations

import functools
import re

from reactor.storage.base import Order
from reactor.storage.prune_plan import targets

GET_DOCUMENT = """
    SELECT value FROM documents WHERE doc_id = $1 AND ts <= $2 ORDER BY ts DESC LIMIT 1
"""

# One statement writes a whole batch of commits: a single round trip, atomic by itself.
# Each table's rows travel as parallel arrays (unnest turns them back into rows). A
# duplicate outcome (which OCC rules out) must not fail the batch: the first stays.
# The notification ($19 channel, $20 last ts) wakes follower nodes when it commits
# (postgres_follow.py); joining `n` makes PostgreSQL evaluate it, once. The fence
# ($21, the writer's lease epoch, NULL when it holds none): unless the lease still has
# that epoch the division fails the whole statement, and the row lock taken on it makes
# a takeover wait for a batch in flight (docs/architecture.md, "Many nodes").
WRITE_COMMITS = """
    WITH d AS (
        INSERT INTO documents (doc_id, ts, table_name, deleted, value)
        SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::bool[], $5::bytea[])),
    e AS (
        INSERT INTO index_entries (index_id, key, ts, deleted, doc_id)
        SELECT * FROM unnest($6::text[], $7::bytea[], $8::int8[], $9::bool[], $10::text[])),
    o AS (
        INSERT INTO mutation_outcomes (session_id, request_id, ts, recorded_ms, value)
        SELECT * FROM unnest($11::text[], $12::float8[], $13::int8[], $14::float8[],
                             $15::bytea[])
        ON CONFLICT DO NOTHING),
    c AS (INSERT INTO commit_log (ts) SELECT DISTINCT unnest($18::int8[])
          ON CONFLICT DO NOTHING),
    n AS (SELECT pg_notify($19, $20)),
    f AS (SELECT epoch FROM committer_lease WHERE id = 1 AND epoch = $21 FOR SHARE)
    INSERT INTO globals (name, value)
    SELECT g.name, g.value FROM unnest($16::text[], $17::text[]) AS g (name, value), n
    WHERE 1 / (CASE WHEN $21::int8 IS NULL THEN 1 ELSE (SELECT count(*) FROM f) END) = 1
    ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""

UPSERT_GLOBALS = """
    INSERT INTO globals (name, value) SELECT * FROM unnest($1::text[], $2::text[])
    ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""

GET_OUTCOME = """
    SELECT value FROM mutation_outcomes WHERE session_id = $1 AND request_id = $2 AND ts <= $3
"""
PRUNE_OUTCOMES = """
    DELETE FROM mutation_outcomes WHERE (session_id, request_id) IN (
        SELECT session_id, request_id FROM mutation_outcomes
        WHERE recorded_ms < $1 ORDER BY recorded_ms LIMIT $2)
"""

# An entry revision is live at $3 when it is the newest revision of its key at or
# below $3 and not a tombstone; the walk follows the primary key in key order and
# stops after $4 live entries. ($1 index, $2 lower bound, $5 upper bound.) The newest
# revision is a correlated scalar subquery, not NOT EXISTS: the planner may turn an
# anti-join into a scan of the whole index per row when its estimates are off (a
# fresh table), while this stays one primary-key probe per row.
_LIVE_ENTRIES = """
    FROM index_entries AS e
    WHERE e.index_id = $1 AND e.key >= $2 {upper} AND e.ts <= $3 AND NOT e.deleted
      AND e.ts = (
        SELECT max(n.ts) FROM index_entries AS n
        WHERE n.index_id = $1 AND n.key = e.key AND n.ts <= $3)
"""
_SCAN = """
    SELECT e.key, e.doc_id, (
        SELECT d.value FROM documents AS d
        WHERE d.doc_id = e.doc_id AND d.ts <= $3 ORDER BY d.ts DESC LIMIT 1)
""" + _LIVE_ENTRIES + "ORDER BY e.key {direction} LIMIT $4"

SCAN: dict[tuple[Order, bool], str] = {
    (order, bounded): _SCAN.format(upper="AND e.key < $5" if bounded else "",
                                   direction="ASC" if order == "asc" else "DESC")
    for order in ("asc", "desc")
    for bounded in (True, False)
}
_PARAMETER = re.compile(r"\$(\d+)")


@functools.cache
def scan_each(ranges: tuple[tuple[int, bool], ...]) -> str:
    """One statement running the ascending SCAN of each (position, bounded) range, its
    rows tagged with the position, in (position, key) order. Each range's parameters
    follow the last one's: index, lower bound, ts, limit and (if bounded) upper bound."""
    parts = []
    offset = 0
    for i, bounded in ranges:
        parts.append(f"SELECT {i}, * FROM ({_shifted(SCAN['asc', bounded], offset)}) AS s{i}")
        offset += 5 if bounded else 4
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


def _shifted(statement: str, offset: int) -> str:
    """`statement` with its parameters renumbered from `offset + 1`."""
    return _PARAMETER.sub(lambda number: f"${int(number.group(1)) + offset}", statement)


COUNT = "SELECT count(*) " + _LIVE_ENTRIES.format(upper="")

INSERT_ENTRIES = """
    INSERT INTO index_entries (index_id, key, ts, deleted, doc_id)
    SELECT $1, k, $2, FALSE, d FROM unnest($3::bytea[], $4::text[]) AS t(k, d)
"""
DELETE_INDEX = "DELETE FROM index_entries WHERE index_id = $1"

# Vector entries: the durable copy of the in-memory matrices (vector_entries.py).
END_VECTORS = """
    UPDATE vector_entries SET end_ts = $1 WHERE index_id = $2 AND doc_id = $3 AND end_ts = $4
"""
INSERT_VECTOR = """
    INSERT INTO vector_entries (index_id, doc_id, ts, end_ts, vector, filters)
    VALUES ($1, $2, $3, $4, $5, $6)
"""
_VECTOR_COLUMNS = "SELECT index_id, doc_id, ts, end_ts, vector, filters FROM vector_entries"
LOAD_VECTORS = _VECTOR_COLUMNS + " ORDER BY entry_id"
LOAD_VECTOR_INDEX = _VECTOR_COLUMNS + " WHERE index_id = $1 ORDER BY entry_id"
LOAD_VECTOR_SNAPSHOT = (_VECTOR_COLUMNS
                        + " WHERE index_id = $1 AND ts <= $2 AND end_ts > $2 ORDER BY entry_id")
PRUNE_VECTORS = "DELETE FROM vector_entries WHERE end_ts <= $1"
PRUNE_COMMIT_LOG = "DELETE FROM commit_log WHERE ts <= $1"
COMMITTED = "SELECT count(*) FROM commit_log WHERE ts = ANY($1::int8[])"
DROP_VECTOR_INDEX = "DELETE FROM vector_entries WHERE index_id = $1"

# Pruning (prune_plan.py): candidates after the watermark ($1 ts, $2 id, $5 key: only
# index entries have one) up to the horizon $3, at most $4 of them.
DOCUMENTS, INDEX_ENTRIES = targets(
    {"ts": "$1", "id": "$2", "horizon": "$3", "limit": "$4", "key": "$5"}, ("$1", "$2", "$3"))
READ_WATERMARK = "SELECT ts, id, key FROM prune_watermarks WHERE target = $1"
WRITE_WATERMARK = """
    INSERT INTO prune_watermarks (target, ts, id, key) VALUES ($1, $2, $3, $4)
    ON CONFLICT (target) DO UPDATE SET ts = excluded.ts, id = excluded.id, key = excluded.key
"""
