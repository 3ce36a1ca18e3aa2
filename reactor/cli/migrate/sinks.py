"""Where `reactor migrate data` runs its transactions: here, or in a running server.

`LocalSink` calls runtime/migration_batches.py on a deployment this process opened
(`--data` / `--db`). `RemoteSink` sends the same calls to a running server
(`--url URL --admin-key KEY`) as `POST /api/admin/migration` with
`{"op": "page" | "write" | "patch", ...}`, values in the wire form; the server runs
the very same functions, one transaction a request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any, Protocol

from reactor.cli.remote import request
from reactor.errors import LimitExceededError, ReactorError
from reactor.runtime.migration_batches import (
    BatchOutcome,
    MigrationRowError,
    RowWrite,
    patch_rows,
    read_page,
    write_rows,
)
from reactor.transactions import Database
from reactor.values import from_wire, to_wire


class Sink(Protocol):
    async def read_page(self, table: str, after: float, size: int
                        ) -> list[dict[str, Any]]: ...

    async def write_rows(self, source: str, table: str, rows: list[RowWrite],
                         deferred: list[str]) -> BatchOutcome: ...

    async def patch_rows(self, patches: list[tuple[str, dict[str, Any]]]) -> None: ...


class LocalSink:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def read_page(self, table: str, after: float, size: int) -> list[dict[str, Any]]:
        return await read_page(self.database, table, after, size)

    async def write_rows(self, source: str, table: str, rows: list[RowWrite],
                         deferred: list[str]) -> BatchOutcome:
        return await write_rows(self.database, source, table, rows, deferred)

    async def patch_rows(self, patches: list[tuple[str, dict[str, Any]]]) -> None:
        await patch_rows(self.database, patches)


class RemoteSink:
    """The calls as admin requests to a running server (urllib, in a worker thread so the
    source database's cursor stays served)."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/") + "/api/admin/migration"
        self.key = key

    async def _call(self, body: dict[str, Any]) -> Any:
        try:
            return await asyncio.to_thread(request, "POST", self.url, self.key, body)
        except ReactorError as error:
            if error.code == LimitExceededError.code:
                raise LimitExceededError(error.message) from None
            if error.code == MigrationRowError.code:
                raise MigrationRowError(error.message) from None
            raise

    async def read_page(self, table: str, after: float, size: int) -> list[dict[str, Any]]:
        reply = await self._call({"op": "page", "table": table, "after": after,
                                  "size": size})
        docs = from_wire(reply["documents"], "documents")
        assert isinstance(docs, list)
        return [doc for doc in docs if isinstance(doc, dict)]

    async def write_rows(self, source: str, table: str, rows: list[RowWrite],
                         deferred: list[str]) -> BatchOutcome:
        reply = await self._call({
            "op": "write", "source": source, "table": table, "deferred": deferred,
            "rows": [{"key": r.key, "doc": to_wire(r.doc), "existing": r.existing}
                     for r in rows]})
        return BatchOutcome([(str(key), str(doc_id)) for key, doc_id in reply["created"]],
                            Counter({str(k): int(n) for k, n in reply["counts"].items()}))

    async def patch_rows(self, patches: list[tuple[str, dict[str, Any]]]) -> None:
        await self._call({"op": "patch", "patches": [[doc_id, to_wire(fields)]
                                                     for doc_id, fields in patches]})
