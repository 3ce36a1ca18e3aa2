"""The read side of text and vector search for `SqliteStorage` (which mixes it in)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reactor.errors import StorageError
from reactor.storage import sqlite_search, sqlite_vectors, vector_entries
from reactor.storage.base import (
    SearchHit,
    SearchStatistics,
    TextQuery,
    VectorHit,
    VectorQuery,
)

if TYPE_CHECKING:
    from reactor.storage.sqlite_text_indexes import TextIndexes
    from reactor.storage.sqlite_vector_indexes import VectorIndexes


class SearchReads:
    """`search`, `search_statistics` and `vector_search` over the tables of
    sqlite_search.py and the matrices of sqlite_vectors.py.

    The process owning the store ranks text searches on its in-memory indexes
    (text_index.py) and reads only the winners' documents; a reader-only worker,
    which keeps nothing in memory, ranks them with FTS5 in SQL, and so does the
    owner for an index still loading into memory (sqlite_text_indexes.py). A vector
    search of an index still loading waits for it (sqlite_vector_indexes.py).
    """

    db_path: Path
    _writer: sqlite3.Connection | None
    # FTS5 tables that exist (committed): searches of other indexes find nothing.
    _search_tables: set[str]
    # Text indexes, in memory (loaded in the background, kept in step by `write`).
    _texts: TextIndexes
    # Vector indexes, in memory (loaded in the background, kept in step by `write`).
    _vectors: VectorIndexes
    _fetch: Callable[[str, Iterable[Any] | dict[str, Any]], Awaitable[list[Any]]]
    _decode: Callable[[bytes, str], dict[str, Any]]

    async def refresh_search_tables(self) -> None:
        raise NotImplementedError

    async def _has_search_table(self, table: str) -> bool:
        """Whether the FTS5 table exists; a process that does not write (a worker that
        follows another's commits) looks again, since the writer creates it on the index's
        first entry."""
        if table not in self._search_tables and self._writer is None:
            await self.refresh_search_tables()
        return table in self._search_tables

    async def vector_search(self, index_id: str, query: VectorQuery, ts: int, limit: int
                            ) -> list[VectorHit]:
        if self._writer is None:
            # A reader-only worker keeps no matrices in step: load the snapshot's entries.
            rows = await self._fetch(sqlite_vectors.LOAD_INDEX, (index_id, ts, ts))
            matrix = vector_entries.load(rows).get(index_id)
        else:
            # An index still loading has no other engine to answer: wait for it.
            matrix = await self._vectors.loaded(index_id)
        return vector_entries.search(matrix, index_id, query, ts, limit)

    async def search(self, index_id: str, query: TextQuery, ts: int, limit: int
                     ) -> list[SearchHit]:
        table = sqlite_search.fts_table(index_id)
        if limit <= 0 or not query.terms or not await self._has_search_table(table):
            return []
        if self._writer is not None and self._texts.ranks(index_id):
            return await self._search_in_memory(index_id, query, ts, limit)
        params = {"match": sqlite_search.match_expression(query), "ts": ts, "limit": limit}
        rows = await self._fetch(sqlite_search.search_sql(table), params)
        hits = []
        for value, doc_id, rank in rows:
            if value is None:
                raise StorageError(
                    f"{self.db_path}: search index {index_id!r} has a live entry for document "
                    f"{doc_id!r} at ts {ts}, but the document does not exist then")
            hits.append(SearchHit(self._decode(value, doc_id), -rank))
        return hits

    async def _search_in_memory(self, index_id: str, query: TextQuery, ts: int, limit: int
                                ) -> list[SearchHit]:
        index = self._texts.ready.get(index_id)
        best = [] if index is None else index.search(query, ts, limit)
        if not best:
            return []
        rows = await self._fetch(sqlite_search.DOCUMENTS,
                                 (ts, json.dumps([doc_id for doc_id, _ in best])))
        hits = []
        for (doc_id, score), (_, value) in zip(best, rows, strict=True):
            if value is None:
                raise StorageError(
                    f"{self.db_path}: search index {index_id!r} has a live entry for document "
                    f"{doc_id!r} at ts {ts}, but the document does not exist then")
            hits.append(SearchHit(self._decode(value, doc_id), score))
        return hits

    async def search_statistics(self, index_id: str, query: TextQuery) -> SearchStatistics:
        table = sqlite_search.fts_table(index_id)
        if not await self._has_search_table(table):
            return SearchStatistics(0, 0, tuple(0 for _ in query.terms))
        if self._writer is not None and self._texts.ranks(index_id):
            index = self._texts.ready.get(index_id)
            if index is None:
                return SearchStatistics(0, 0, tuple(0 for _ in query.terms))
            return SearchStatistics(index.documents, index.tokens, index.matching(query))
        rows = await self._fetch(sqlite_search.STATISTICS, (index_id,))
        documents, tokens = rows[0]
        matching = []
        for phrase in sqlite_search.term_phrases(query):
            counted = await self._fetch(sqlite_search.count_sql(table), (f"terms : {phrase}",))
            matching.append(int(counted[0][0]))
        return SearchStatistics(int(documents), int(tokens), tuple(matching))
