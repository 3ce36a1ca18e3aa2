"""Bulk import on PostgreSQL: the records of `Storage.write_stream` in one transaction."""

from __future__ import annotations

from typing import Any

from reactor.storage import vector_entries
from reactor.storage.base import CommitRecord
from reactor.values.wire import dumps

# A later row for the same document or index key at the same ts replaces an earlier one
# (a replaced table's tombstones come first, then documents that may reuse their ids).
UPSERT_DOCUMENTS = """
    INSERT INTO documents (doc_id, ts, table_name, deleted, value)
    SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::bool[], $5::bytea[])
    ON CONFLICT (doc_id, ts) DO UPDATE
    SET table_name = excluded.table_name, deleted = excluded.deleted, value = excluded.value
"""
UPSERT_ENTRIES = """
    INSERT INTO index_entries (index_id, key, ts, deleted, doc_id)
    SELECT * FROM unnest($1::text[], $2::bytea[], $3::int8[], $4::bool[], $5::text[])
    ON CONFLICT (index_id, key, ts) DO UPDATE
    SET deleted = excluded.deleted, doc_id = excluded.doc_id
"""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [[row[i] for row in rows] for i in range(width)]


async def write_record(conn: Any, record: CommitRecord, end_vectors: str, insert_vector: str
                       ) -> set[str]:
    """Write one record inside the caller's transaction; the vector indexes it touched."""
    ts = record.ts
    documents = [(w.doc_id, ts, w.table, w.value is None,
                  None if w.value is None else dumps(w.value)) for w in record.documents]
    entries = [(w.index_id, w.key, ts, w.deleted, w.doc_id) for w in record.index_writes]
    if documents:
        await conn.execute(UPSERT_DOCUMENTS, *_columns(documents, 5))
    if entries:
        await conn.execute(UPSERT_ENTRIES, *_columns(entries, 5))
    for change in record.vector_writes:
        await conn.execute(end_vectors, ts, change.index_id, change.doc_id, vector_entries.LIVE)
        if change.vector is not None:
            await conn.execute(insert_vector, change.index_id, change.doc_id, ts,
                               vector_entries.LIVE, vector_entries.encode(change.vector),
                               " ".join(change.filters))
    return {change.index_id for change in record.vector_writes}
