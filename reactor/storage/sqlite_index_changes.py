"""Schema index changes for `SqliteStorage` (which mixes it in); the in-memory search
indexes they rebuild load again in the background (sqlite_index_loads.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from reactor.storage import sqlite_index_build, sqlite_search
from reactor.storage import sqlite_sql as sql
from reactor.storage.base import IndexBuild, SearchBuild, VectorBuild
from reactor.storage.codec import encode_global

if TYPE_CHECKING:
    from reactor.storage.sqlite_text_indexes import TextIndexes
    from reactor.storage.sqlite_vector_indexes import VectorIndexes

T = TypeVar("T")


class IndexChanges:
    """`change_indexes`."""

    db_path: Path
    _writer: sqlite3.Connection | None
    _search_tables: set[str]
    _texts: TextIndexes
    _vectors: VectorIndexes
    _decode: Callable[[bytes, str], dict[str, Any]]

    async def _transaction(self, action: str, body: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _wake_siblings(self, ts: int | None) -> None:
        raise NotImplementedError

    async def change_indexes(self, ts: int, builds: list[IndexBuild], dropped: list[str],
                             globals_: dict[str, Any], *,
                             search_builds: Sequence[SearchBuild] = (),
                             search_dropped: Sequence[str] = (),
                             vector_builds: Sequence[VectorBuild] = (),
                             vector_dropped: Sequence[str] = ()) -> dict[str, tuple[int, int]]:
        names = [(name, encode_global(name, value)) for name, value in globals_.items()]
        known = set(self._search_tables)
        rebuilt = [*vector_dropped, *(b.index_id for b in vector_builds)]
        texts = [*search_dropped, *(b.index_id for b in search_builds)]

        def change(conn: sqlite3.Connection) -> tuple[dict[str, tuple[int, int]], set[str]]:
            counts, created = sqlite_index_build.change_indexes(
                conn, sql.SCAN["asc", False], ts, builds, dropped, self._decode,
                search_builds, search_dropped, known, vector_builds, vector_dropped)
            conn.executemany(sql.UPSERT_GLOBAL, names)
            return counts, created

        # Out of service from before the change until loaded again from after it: FTS5
        # ranks text searches, vector searches wait.
        self._texts.hold(texts)
        self._vectors.hold(rebuilt)
        try:
            counts, created = await self._transaction("apply the schema's index changes",
                                                      change)
        finally:
            self._texts.load(texts)
            self._vectors.load(rebuilt)
        self._wake_siblings(None)
        gone = {sqlite_search.fts_table(index_id) for index_id in texts}
        self._search_tables = (self._search_tables - gone) | created
        return counts
