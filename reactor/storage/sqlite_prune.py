"""Retention for the SQLite store: the queries of a prune pass (the walk and its plan are
described in prune_plan.py)."""

from __future__ import annotations

from reactor.storage.prune_plan import targets

DOCUMENTS, INDEX_ENTRIES = targets(
    {"ts": ":ts", "id": ":id", "key": ":key", "horizon": ":horizon", "limit": ":limit"},
    ("?", "?", "?"))

READ_WATERMARK_SQL = "SELECT ts, id, key FROM prune_watermarks WHERE target = ?"
WRITE_WATERMARK_SQL = """
    INSERT INTO prune_watermarks (target, ts, id, key) VALUES (?, ?, ?, ?)
    ON CONFLICT (target) DO UPDATE SET ts = excluded.ts, id = excluded.id, key = excluded.key
"""
