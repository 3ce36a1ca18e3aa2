"""Full-text indexes on PostgreSQL: a term index with the ranking of SQLite's FTS5 store.

`search_entries` holds one row per entry revision, visible from its commit `ts` until
`end_ts` (as in sqlite_search.py); `search_postings` lists each entry's terms with how
often they occur (`field` 0), and its filter tokens (`field` 1). A search at snapshot S
ranks the entries live at S that hold any query term (the last one as a prefix when
asked) and a token of every filter group, by BM25 computed as FTS5's `bm25()` does:
over every stored entry of the index (superseded ones too, until pruned), the idf of a
phrase `log((N - n + 0.5) / (n + 0.5))` (1e-6 if not positive), a document's length
its terms and filter tokens together, filter tokens weighing nothing. Scores are summed
over the query's phrases in order, so identical profiles tie exactly (newest first).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from reactor.storage.base import SearchWrite, TextQuery
from reactor.storage.postgres_schema import Conn

LIVE = 2**63 - 1
TERMS, FILTERS = 0, 1
# Above every character a term can hold, so [p, p + TOP) is "starts with p" (bytewise).
_TOP = "\U0010ffff"
# Below every character a term can hold, so [t, t + _NEXT) is exactly t.
_NEXT = "\x01"

_END_CURRENT = """
    UPDATE search_entries SET end_ts = $1 WHERE index_id = $2 AND doc_id = $3 AND end_ts = $4
"""
_INSERT_ENTRY = """
    INSERT INTO search_entries (index_id, doc_id, ts, end_ts, creation, tokens)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING entry_id
"""
_INSERT_POSTINGS = """
    INSERT INTO search_postings (index_id, field, term, entry_id, hits)
    SELECT $1, f, t, $2, h FROM unnest($3::int2[], $4::text[], $5::int4[]) AS p(f, t, h)
"""
PRUNE = """
    WITH gone AS (
        DELETE FROM search_entries WHERE entry_id IN (
            SELECT entry_id FROM search_entries WHERE end_ts <= $1 ORDER BY end_ts LIMIT $2)
        RETURNING entry_id),
    postings AS (DELETE FROM search_postings WHERE entry_id IN (SELECT entry_id FROM gone))
    SELECT count(*) FROM gone
"""

# $1 index; $2/$3 each phrase's term range [lo, hi); $4 snapshot; $5/$6 filter tokens and
# their group numbers, $7 how many groups; $8 limit.
_PHRASES = """
    q AS (SELECT lo, hi, i FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS q(lo, hi, i)),
    hits AS (
        SELECT q.i, p.entry_id, sum(p.hits)::float8 AS tf
        FROM q JOIN search_postings AS p
          ON p.index_id = $1 AND p.field = 0 AND p.term >= q.lo AND p.term < q.hi
        GROUP BY q.i, p.entry_id),
    stats AS (
        SELECT count(*)::float8 AS n, coalesce(sum(tokens), 0)::float8 AS total
        FROM search_entries WHERE index_id = $1)
"""
SEARCH = "WITH" + _PHRASES + """,
    idf AS (
        SELECT q.i, CASE WHEN x.v <= 0 THEN 1e-6 ELSE x.v END AS idf
        FROM q CROSS JOIN stats
        CROSS JOIN LATERAL (SELECT count(*)::float8 AS m FROM hits WHERE hits.i = q.i) AS c
        CROSS JOIN LATERAL (SELECT ln((stats.n - c.m + 0.5) / (c.m + 0.5)) AS v) AS x),
    live AS (
        SELECT e.entry_id, e.doc_id, e.creation, e.tokens::float8 AS tokens
        FROM search_entries AS e
        WHERE e.entry_id IN (SELECT entry_id FROM hits) AND e.ts <= $4 AND e.end_ts > $4
          AND (SELECT count(DISTINCT fg.g)
               FROM unnest($5::text[], $6::int4[]) AS fg(tok, g)
               JOIN search_postings AS f ON f.index_id = $1 AND f.field = 1
                 AND f.term = fg.tok AND f.entry_id = e.entry_id) = $7),
    scored AS (
        SELECT live.doc_id, live.creation,
               sum(idf.idf * ((h.tf * 2.2) / (h.tf + 1.2 * (1 - 0.75 + 0.75 * live.tokens
                   / (stats.total / stats.n)))) ORDER BY h.i) AS score
        FROM live JOIN hits AS h ON h.entry_id = live.entry_id JOIN idf ON idf.i = h.i
        CROSS JOIN stats
        GROUP BY live.doc_id, live.creation
        ORDER BY score DESC, live.creation DESC LIMIT $8)
    SELECT (SELECT d.value FROM documents AS d
            WHERE d.doc_id = scored.doc_id AND d.ts <= $4 ORDER BY d.ts DESC LIMIT 1),
           scored.doc_id, scored.score
    FROM scored ORDER BY scored.score DESC, scored.creation DESC
"""
STATISTICS = "WITH" + _PHRASES + """
    SELECT stats.n, stats.total,
           array(SELECT (SELECT count(*) FROM hits WHERE hits.i = q.i) FROM q ORDER BY q.i)
    FROM stats
"""


def phrase_ranges(query: TextQuery) -> tuple[list[str], list[str]]:
    """Each query phrase as a term range: one term, or every term it begins (the last
    phrase, when `prefix`)."""
    last = len(query.terms) - 1
    his = [term + (_TOP if query.prefix and i == last else _NEXT)
           for i, term in enumerate(query.terms)]
    return list(query.terms), his


def search_params(query: TextQuery, ts: int, limit: int) -> list[Any]:
    """The parameters of SEARCH after the index id."""
    tokens = [token for group in query.filters for token in group]
    groups = [number for number, group in enumerate(query.filters) for _ in group]
    return [*phrase_ranges(query), ts, tokens, groups, len(query.filters), limit]


async def write_entries(conn: Conn, writes: Iterable[tuple[int, SearchWrite]]) -> None:
    """Apply entry changes in commit order."""
    for ts, write in writes:
        await conn.execute(_END_CURRENT, ts, write.index_id, write.doc_id, LIVE)
        if write.terms is None:
            continue
        entry_id = await conn.fetchval(_INSERT_ENTRY, write.index_id, write.doc_id, ts, LIVE,
                                       write.creation_time,
                                       len(write.terms) + len(write.filters))
        postings = [(TERMS, term, n) for term, n in Counter(write.terms).items()]
        postings += [(FILTERS, token, n) for token, n in Counter(write.filters).items()]
        if postings:
            fields, terms, hits = zip(*postings, strict=True)
            await conn.execute(_INSERT_POSTINGS, write.index_id, entry_id, list(fields),
                               list(terms), list(hits))


async def drop_indexes(conn: Conn, index_ids: Sequence[str]) -> None:
    for index_id in dict.fromkeys(index_ids):
        await conn.execute("DELETE FROM search_postings WHERE index_id = $1", index_id)
        await conn.execute("DELETE FROM search_entries WHERE index_id = $1", index_id)
