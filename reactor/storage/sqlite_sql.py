"""The statements of the SQLite store (tables in sqlite_schema.py)."""

from __future__ import annotations

import functools
import re

from reactor.storage.base import Order

GET_DOCUMENT = """
    SELECT value FROM documents WHERE doc_id = ? AND ts <= ? ORDER BY ts DESC LIMIT 1
"""

INSERT_DOCUMENT = """
    INSERT INTO documents (doc_id, ts, table_name, deleted, value) VALUES (?, ?, ?, ?, ?)
"""
INSERT_ENTRY = """
    INSERT INTO index_entries (index_id, key, ts, deleted, doc_id) VALUES (?, ?, ?, ?, ?)
"""
# A duplicate (which OCC rules out) must not fail the whole batch: the first stays.
INSERT_OUTCOME = """
    INSERT OR IGNORE INTO mutation_outcomes (session_id, request_id, ts, recorded_ms, value)
    VALUES (?, ?, ?, ?, ?)
"""
GET_OUTCOME = """
    SELECT value FROM mutation_outcomes WHERE session_id = ? AND request_id = ? AND ts <= ?
"""
PRUNE_OUTCOMES = """
    DELETE FROM mutation_outcomes WHERE (session_id, request_id) IN (
        SELECT session_id, request_id FROM mutation_outcomes
        WHERE recorded_ms < ? ORDER BY recorded_ms LIMIT ?)
"""
UPSERT_GLOBAL = """
    INSERT INTO globals (name, value) VALUES (?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value
"""

# An entry revision is live at :ts when it is the newest revision of its key at
# or below :ts and not a tombstone. The walk follows the primary key in key
# order and stops after :limit live entries, so it never reads the whole range.
# `+e.ts` keeps the planner on the primary key rather than the ts index.
_LIVE_ENTRIES = """
    FROM index_entries AS e
    WHERE e.index_id = :index_id AND e.key >= :lo {upper} AND +e.ts <= :ts AND e.deleted = 0
      AND NOT EXISTS (
        SELECT 1 FROM index_entries AS n
        WHERE n.index_id = e.index_id AND n.key = e.key AND n.ts > e.ts AND n.ts <= :ts)
"""

# The entry's document as of the same snapshot: the newest revision <= :ts.
_SCAN_TEMPLATE = (
    """
    SELECT e.key, e.doc_id, (
        SELECT d.value FROM documents AS d
        WHERE d.doc_id = e.doc_id AND d.ts <= :ts ORDER BY d.ts DESC LIMIT 1)
    """
    + _LIVE_ENTRIES
    + "ORDER BY e.key {direction} LIMIT :limit"
)

SCAN: dict[tuple[Order, bool], str] = {
    (order, bounded): _SCAN_TEMPLATE.format(
        upper="AND e.key < :hi" if bounded else "",
        direction="ASC" if order == "asc" else "DESC",
    )
    for order in ("asc", "desc")
    for bounded in (True, False)
}


_PARAMETER = re.compile(r":(\w+)")


@functools.cache
def scan_each(ranges: tuple[tuple[int, bool], ...]) -> str:
    """One statement running the ascending SCAN of each (position, bounded) range, its
    rows tagged with the position and its parameters suffixed with it (`:lo_1`), in
    (position, key) order."""
    parts = []
    for i, bounded in ranges:
        scan = _PARAMETER.sub(rf"\g<0>_{i}", SCAN["asc", bounded])
        parts.append(f"SELECT {i}, * FROM ({scan})")
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


COUNT = "SELECT count(*) " + _LIVE_ENTRIES.format(upper="")
