"""`_inline_blobs`: the contents of small files, kept in the database itself.

A file of up to `FileOptions.inline_max_bytes` is stored as one row here, in
the same commit as its `_storage` document, instead of as a file in the blob
store: that commit makes it durable (one group-committed fsync shared with
other writers, instead of a file fsync, a rename and a folder fsync per
upload), and a crash cannot separate the two. Rows are content-addressed like
blob files: one per sha256, shared by every `_storage` document with those
contents, removed once none references it. App code cannot read the table.
"""

from __future__ import annotations

from reactor.schema import TableDefinition, define_table
from reactor.schema.indexes import index_id
from reactor.storage import Storage
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import encode_key, prefix_end, v

INLINE_BLOBS = "_inline_blobs"


def inline_blobs_table() -> TableDefinition:
    table = define_table({"sha256": v.string(), "data": v.bytes()}) \
        .index("by_sha256", ["sha256"])
    table.name = INLINE_BLOBS
    return table


class InlineBlobs:
    """The inline blobs seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    def query(self, sha256: str) -> QueryBuilder:
        return QueryBuilder(self._txn, INLINE_BLOBS) \
            .with_index("by_sha256", lambda q: q.eq("sha256", sha256))

    async def get(self, sha256: str) -> bytes | None:
        row = await self.query(sha256).first()
        return None if row is None else bytes(row["data"])

    async def insert(self, sha256: str, data: bytes) -> None:
        """Store `data` under `sha256`, which `query` found absent in this transaction:
        that read makes two uploads of the same new contents conflict, so one row is
        written."""
        await self._txn.insert(INLINE_BLOBS, {"sha256": sha256, "data": data})

    async def remove(self, sha256: str) -> bool:
        """Delete the row of `sha256`; whether there was one."""
        row = await self.query(sha256).first()
        if row is None:
            return False
        await self._txn.delete(row["_id"])
        return True

    async def page(self, after: str, limit: int) -> list[tuple[str, float]]:
        """Up to `limit` (sha256, creation time ms) of rows after `after`, in sha256 order."""
        rows = await (QueryBuilder(self._txn, INLINE_BLOBS)
                      .with_index("by_sha256", lambda q: q.gt("sha256", after))
                      .take(limit))
        return [(str(row["sha256"]), float(row["_creationTime"])) for row in rows]


async def read_inline(storage: Storage, sha256: str, ts: int) -> bytes | None:
    """The inline contents of `sha256` at snapshot `ts` read from storage directly (exports
    and backups read a copy of the database, not through transactions); None if absent."""
    prefix = encode_key([sha256])
    entries = await storage.scan_index(index_id(INLINE_BLOBS, "by_sha256"), prefix,
                                       prefix_end(prefix), ts, "asc", 1)
    return bytes(entries[0].doc["data"]) if entries else None
