"""`_storage`: one document per stored file, `{sha256, size, contentType}`.

Documents reference blobs by sha256; several documents may share one blob
(identical contents are stored once). A blob is wanted exactly while some
`_storage` document references it — `references` is the count the file
service checks before removing one.
"""

from __future__ import annotations

from typing import Any

from reactor.errors import NotFoundError
from reactor.schema import TableDefinition, define_table
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import v

STORAGE = "_storage"


def storage_table() -> TableDefinition:
    table = define_table({
        "sha256": v.string(),
        "size": v.number(),
        "contentType": v.optional(v.string()),
    }).index("by_sha256", ["sha256"])
    table.name = STORAGE
    return table


class FileNotFound(NotFoundError):
    code = "FileNotFound"


class StorageFiles:
    """The `_storage` table seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    async def get(self, storage_id: str) -> dict[str, Any] | None:
        if self._txn.catalog.table_of_id(storage_id) != STORAGE:
            return None
        return await self._txn.get(storage_id)

    async def insert(self, sha256: str, size: int, content_type: str | None) -> str:
        doc: dict[str, Any] = {"sha256": sha256, "size": float(size)}
        if content_type:
            doc["contentType"] = content_type
        return await self._txn.insert(STORAGE, doc)

    async def delete(self, storage_id: str, where: str) -> str:
        """Delete the document; the blob's sha256, to release once this commits."""
        doc = await self.get(storage_id)
        if doc is None:
            raise FileNotFound(f"{where}: no file {storage_id!r} (deleted, or never stored)")
        await self._txn.delete(storage_id)
        return str(doc["sha256"])

    async def referenced(self, sha256: str) -> bool:
        """Whether any document references the blob."""
        return await (QueryBuilder(self._txn, STORAGE)
                      .with_index("by_sha256", lambda q: q.eq("sha256", sha256))
                      .first()) is not None
