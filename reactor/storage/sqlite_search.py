"""Full-text indexes in SQLite: one FTS5 table per search index, versioned by a side table.

FTS5 has no notion of snapshots, so every entry revision is its own FTS5 row,
and `search_entries` (keyed by the same rowid) says when it was visible: from
its commit `ts` until `end_ts`, the commit that replaced or removed it (the
largest int64 while it is current). A search at snapshot S joins the FTS5
matches with the rows where `ts <= S < end_ts`. Pruning deletes rows whose
`end_ts` is at or below the horizon, from both tables.

Documents arrive tokenized (schema/search_indexes.py) and are stored as their
terms joined by spaces, so FTS5's `ascii` tokenizer (which splits on ASCII
punctuation and keeps other characters inside tokens) gives back exactly those
terms. Filter-field values are tokens of a second column whose BM25 weight is
zero, so filtering costs one more posting list and leaves the ranking alone.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterable

from reactor.storage.base import SearchWrite, TextQuery
from reactor.storage.sqlite_index_loads import batches
from reactor.storage.text_index import TextIndex
from reactor.storage.text_index_build import build

LIVE = 2**63 - 1
# An entry change as stored: ts, the write, the new entry's id (0: none), the ended ones'.
Written = tuple[int, SearchWrite, int, tuple[int, ...]]

# Column weights for bm25(): the terms count, the filter tokens do not.
RANK = "bm25({table}, 1.0, 0.0)"

LIST_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'fts_*'"

_END_CURRENT = """
    UPDATE search_entries SET end_ts = ? WHERE index_id = ? AND doc_id = ? AND end_ts = ?
    RETURNING entry_id
"""
_INSERT_ENTRY = """
    INSERT INTO search_entries (index_id, doc_id, ts, end_ts, creation, tokens)
    VALUES (?, ?, ?, ?, ?, ?)
"""
_PRUNE_CANDIDATES = """
    SELECT entry_id, index_id FROM search_entries WHERE end_ts <= ? ORDER BY end_ts LIMIT ?
"""
STATISTICS = "SELECT count(*), coalesce(sum(tokens), 0) FROM search_entries WHERE index_id = ?"
LIST_INDEXES = "SELECT DISTINCT index_id FROM search_entries"
# The documents of a search's best entries, in rank order: $1 snapshot, $2 JSON id list.
DOCUMENTS = """
    SELECT ids.value, (SELECT d.value FROM documents AS d
                       WHERE d.doc_id = ids.value AND d.ts <= ? ORDER BY d.ts DESC LIMIT 1)
    FROM json_each(?) AS ids ORDER BY ids.key
"""


def fts_table(index_id: str) -> str:
    """The FTS5 table of an index: a fixed-width hash, since index ids are not SQL names."""
    return "fts_" + hashlib.blake2b(index_id.encode(), digest_size=12).hexdigest()


def create_table_sql(table: str) -> str:
    return (f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5("
            "terms, filters, tokenize = 'ascii', detail = 'full', prefix = '2 3')")


def _phrase(term: str, prefix: bool = False) -> str:
    return '"' + term.replace('"', '""') + '"' + (" *" if prefix else "")


def term_phrases(query: TextQuery) -> list[str]:
    last = len(query.terms) - 1
    return [_phrase(term, query.prefix and i == last) for i, term in enumerate(query.terms)]


def match_expression(query: TextQuery) -> str:
    """`terms : (a OR b OR c *) AND filters : (x OR y) AND ...` in FTS5's query syntax."""
    parts = ["terms : (" + " OR ".join(term_phrases(query)) + ")"]
    parts.extend("filters : (" + " OR ".join(_phrase(t) for t in group) + ")"
                 for group in query.filters)
    return " AND ".join(parts)


def search_sql(table: str) -> str:
    """Live entries at :ts matching :match, best first, ties newest first.

    Ranked in a subquery that carries only ids, so that the documents are read for
    the `:limit` rows returned and not for every match the sort goes through.
    """
    rank = RANK.format(table=table)
    return f"""
        SELECT (SELECT d.value FROM documents AS d
                WHERE d.doc_id = best.doc_id AND d.ts <= :ts ORDER BY d.ts DESC LIMIT 1),
               best.doc_id, best.score
        FROM (SELECT e.doc_id AS doc_id, e.creation AS creation, {rank} AS score
              FROM {table} JOIN search_entries AS e ON e.entry_id = {table}.rowid
              WHERE {table} MATCH :match AND e.ts <= :ts AND e.end_ts > :ts
              ORDER BY score, e.creation DESC LIMIT :limit) AS best
        ORDER BY best.score, best.creation DESC
    """


def count_sql(table: str) -> str:
    return f"SELECT count(*) FROM {table} WHERE {table} MATCH ?"


def write_entries(conn: sqlite3.Connection, writes: Iterable[tuple[int, SearchWrite]],
                  known: set[str], written: list[Written] | None = None) -> set[str]:
    """Apply entry changes in commit order; returns the FTS5 tables it had to create.

    `written` (if given) gets each change with the new entry's id (0 for a removal)
    and those of the entries it ended, for the in-memory indexes to follow (they keep
    no map from documents to their current entries).
    """
    created: set[str] = set()
    for ts, write in writes:
        table = fts_table(write.index_id)
        if table not in known and table not in created:
            conn.execute(create_table_sql(table))
            created.add(table)
        ended = tuple(row[0] for row in conn.execute(
            _END_CURRENT, (ts, write.index_id, write.doc_id, LIVE)).fetchall())
        if write.terms is None:
            if written is not None:
                written.append((ts, write, 0, ended))
            continue
        tokens = len(write.terms) + len(write.filters)
        cursor = conn.execute(_INSERT_ENTRY, (write.index_id, write.doc_id, ts, LIVE,
                                              write.creation_time, tokens))
        entry_id = int(cursor.lastrowid or 0)
        conn.execute(f"INSERT INTO {table} (rowid, terms, filters) VALUES (?, ?, ?)",
                     (entry_id, " ".join(write.terms), " ".join(write.filters)))
        if written is not None:
            written.append((ts, write, entry_id, ended))
    return created


def load_index(conn: sqlite3.Connection, index_id: str,
               stopped: Callable[[], bool] = lambda: False) -> TextIndex | None:
    """The stored entries of one index in memory (None if it has none), read in batches;
    raises `LoadStopped` (sqlite_index_loads.py) once `stopped()` says so."""
    table = fts_table(index_id)
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                          (table,)).fetchone()
    if exists is None:
        return None
    # The FTS5 table holds this index's entries alone: scanned in rowid order, each
    # row's visibility found by its key (an ORDER BY or a scan of the index_id
    # index would sort or look up every row of the FTS5 table).
    cursor = conn.execute(f"""
        SELECT e.entry_id, e.doc_id, e.ts, e.end_ts, e.creation, f.terms, f.filters
        FROM {table} AS f CROSS JOIN search_entries AS e ON e.entry_id = f.rowid
        WHERE e.index_id = ?""", (index_id,))
    return build(batches(cursor, stopped))


def prune_entries(conn: sqlite3.Connection, horizon_ts: int, batch: int
                  ) -> list[tuple[int, str, str]]:
    """Delete up to `batch` entries no snapshot at or after `horizon_ts` can see;
    returns their (entry id, index id, terms joined by spaces), for the in-memory
    indexes, which do not keep the terms of their entries."""
    pruned = []
    for entry_id, index_id in conn.execute(_PRUNE_CANDIDATES, (horizon_ts, batch)).fetchall():
        table = fts_table(index_id)
        found = conn.execute(f"SELECT terms FROM {table} WHERE rowid = ?", (entry_id,)
                             ).fetchone()
        conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (entry_id,))
        conn.execute("DELETE FROM search_entries WHERE entry_id = ?", (entry_id,))
        pruned.append((int(entry_id), str(index_id), "" if found is None else str(found[0])))
    return pruned


def drop_index(conn: sqlite3.Connection, index_id: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {fts_table(index_id)}")
    conn.execute("DELETE FROM search_entries WHERE index_id = ?", (index_id,))
