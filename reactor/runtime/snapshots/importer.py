"""`reactor import`: documents from a snapshot or a table file, committed all at once.

Convex's semantics: by default the tables imported into must be empty;
`append` adds to them, `replace` swaps their whole content. Every document is
validated against the schema before anything is visible (the first failure
names the file, line and field, and nothing is written). Ids from a Reactor
snapshot are kept; ids from elsewhere (a Convex deployment, another system) get
new Reactor ids and every string equal to an old id is rewritten to the new one.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any, Literal

from reactor.errors import ReactorError
from reactor.runtime.snapshots.convex_json import from_export
from reactor.runtime.snapshots.progress import Progress
from reactor.runtime.snapshots.sources import STORAGE, ParsedImport, TableSource
from reactor.storage.blobs import BlobStore
from reactor.transactions import Database
from reactor.transactions.bulk_import import Batch
from reactor.transactions.catalog import Catalog
from reactor.transactions.table_scan import LATEST, count_table
from reactor.values import from_wire, is_id_for, new_id, new_ids

Mode = Literal["require_empty", "append", "replace"]
BATCH = 2000


class ImportInvalid(ReactorError):
    code = "ImportInvalid"


@dataclass(slots=True)
class ImportReport:
    ts: int
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0
    mapped_ids: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def import_parsed(database: Database, blobs: BlobStore | None, parsed: ParsedImport,
                        mode: Mode, progress: Progress | None = None) -> ImportReport:
    """Import everything in `parsed` into `database` as one commit."""
    started = time.monotonic()
    progress = progress or Progress(enabled=False)
    targets = [source.table for source in parsed.tables]
    if len(set(targets)) != len(targets):
        raise ImportInvalid("the import names a table twice")
    stored = _stored_files(parsed)
    if stored:
        targets.append(STORAGE)
    if mode == "require_empty":
        for table in targets:
            if await count_table(database.storage, table) > 0:
                raise ImportInvalid(f'table "{table}" is not empty: pass --append to add to'
                                    " it or --replace to replace it", code="ImportTableNotEmpty")
    mapping = _map_ids([*parsed.tables, *([parsed.storage] if stored and parsed.storage
                                         else [])], progress)
    storage_docs = await _store_files(parsed, stored, blobs, mapping) if stored else []
    report = ImportReport(0, skipped=list(parsed.skipped))
    report.mapped_ids = len(mapping)
    report.files = len(storage_docs)

    async def batches(catalog: Catalog) -> AsyncIterator[Batch]:
        if storage_docs:
            files = catalog.require(STORAGE)
            yield [(STORAGE, files.validate_document(doc, "_storage")) for doc in storage_docs]
            report.tables[STORAGE] = len(storage_docs)
        for source in parsed.tables:
            async for batch in _documents(database, catalog, source, mapping, mode, progress,
                                          report):
                yield batch
        progress.finish()

    replace = targets if mode == "replace" else []
    report.ts = await database.bulk_import(replace, batches)
    report.seconds = time.monotonic() - started
    return report


def _stored_files(parsed: ParsedImport) -> list[tuple[int, dict[str, Any]]]:
    """The `_storage` lines whose file contents are in the snapshot (Convex imports only
    those)."""
    if parsed.storage is None or not parsed.blobs:
        return []
    found = []
    for number, line in parsed.storage.lines():
        if isinstance(line, dict) and str(line.get("_id")) in parsed.blobs:
            found.append((number, line))
    return found


def _map_ids(sources: list[TableSource], progress: Progress) -> dict[str, str]:
    """Old id -> new id for every document whose `_id` is not an id of its table here.

    Only read when the first document of some table has such an id: a snapshot of a
    Reactor deployment keeps its ids and costs no extra pass.
    """
    if not any(_foreign(source) for source in sources):
        return {}
    progress.note("mapping ids from another system")
    mapping: dict[str, str] = {}
    for source in sources:
        for _, line in source.lines():
            old = line.get("_id") if isinstance(line, dict) else None
            if isinstance(old, str) and not is_id_for(source.table, old):
                mapping[old] = new_id(source.table)
    return mapping


def _foreign(source: TableSource) -> bool:
    for _, line in source.lines():
        old = line.get("_id") if isinstance(line, dict) else None
        return isinstance(old, str) and not is_id_for(source.table, old)
    return False


def _rewrite(value: Any, mapping: dict[str, str]) -> Any:
    """`value` with every string that is an old id replaced by its new id."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_rewrite(item, mapping) for item in value]
    if isinstance(value, dict):
        return {key: _rewrite(item, mapping) for key, item in value.items()}
    return value


def _decode(source: TableSource, number: int, line: Any) -> dict[str, Any]:
    path = f"{source.where} line {number}"
    if not isinstance(line, dict):
        raise ImportInvalid(f"{path}: expected a JSON object (a document), got"
                            f" {type(line).__name__}")
    try:
        value = from_export(line, "doc") if source.lossless else from_wire(line, "doc")
    except ReactorError as error:
        raise ReactorError(f"{path}: {error.message}", code=error.code) from None
    assert isinstance(value, dict)
    return value


async def _documents(database: Database, catalog: Catalog, source: TableSource,
                     mapping: dict[str, str], mode: Mode, progress: Progress,
                     report: ImportReport) -> AsyncIterator[Batch]:
    try:
        table = catalog.require(source.table, for_write=True)
    except ReactorError as error:
        raise ReactorError(f"{source.where}: {error.message}", code=error.code) from None
    batch: Batch = []
    count = 0
    fresh = _FreshIds(source.table)
    for number, line in source.lines():
        doc = _decode(source, number, line)
        where = f"{source.where} line {number}"
        doc["_id"] = await _doc_id(database, fresh, doc.get("_id"), mapping, mode, where)
        doc["_creationTime"] = _creation_time(database, doc.get("_creationTime"), where)
        if mapping:
            doc = _rewrite(doc, mapping)
        try:
            batch.append((source.table, table.validate_document(doc, "doc")))
        except ReactorError as error:
            raise ReactorError(f"{where}: {error.message}", code=error.code) from None
        count += 1
        if len(batch) >= BATCH:
            progress.advance(len(batch))
            yield batch
            batch = []
    if batch:
        progress.advance(len(batch))
        yield batch
    report.tables[source.table] = count
    progress.table_done(source.table, count)


class _FreshIds:
    """New ids for one table, made a batch at a time."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._ready: list[str] = []

    def next(self) -> str:
        if not self._ready:
            self._ready = new_ids(self.table, BATCH)
            self._ready.reverse()
        return self._ready.pop()


async def _doc_id(database: Database, fresh: _FreshIds, old: Any, mapping: dict[str, str],
                  mode: Mode, where: str) -> str:
    table = fresh.table
    if old is None:
        return fresh.next()
    if not isinstance(old, str):
        raise ImportInvalid(f"{where}: doc._id: expected a string id, got {type(old).__name__}")
    if not is_id_for(table, old):
        mapped = mapping.get(old)
        if mapped is None:
            raise ImportInvalid(f"{where}: doc._id: {old!r} is not an id of table {table!r}")
        return mapped
    if mode == "append" and await database.storage.get_document(old, LATEST) is not None:
        raise ImportInvalid(f"{where}: doc._id: a document with id {old!r} already exists in"
                            f" {table!r}; import with --replace to replace the table")
    return old


def _creation_time(database: Database, given: Any, where: str) -> float:
    if given is None:
        return database.clock.next_creation_time()
    if isinstance(given, bool) or not isinstance(given, int | float) or not math.isfinite(
            float(given)) or given < 0:
        raise ImportInvalid(f"{where}: doc._creationTime: expected a number of milliseconds,"
                            f" got {given!r}")
    return float(given)


async def _store_files(parsed: ParsedImport, stored: list[tuple[int, dict[str, Any]]],
                       blobs: BlobStore | None, mapping: dict[str, str]
                       ) -> list[dict[str, Any]]:
    """Write the snapshot's file contents to the blob store; their `_storage` documents.

    Published before the commit: if the import then fails, the orphan sweep removes
    them (docs/guide/files.md)."""
    if blobs is None:
        raise ImportInvalid("this deployment has no file storage to import files into")
    assert parsed.zip_path is not None and parsed.storage is not None
    docs = []
    with ExitStack() as stack:
        archive = stack.enter_context(zipfile.ZipFile(parsed.zip_path))
        for number, line in stored:
            where = f"{parsed.storage.where} line {number}"
            old = str(line["_id"])
            member = parsed.blobs[old]

            async def chunks(member: str = member) -> AsyncIterator[bytes]:
                for chunk in _read_member(archive, member):
                    yield chunk

            staged = await blobs.stage(chunks())
            expected = _expected_sha256(line.get("sha256"), where)
            if expected is not None and expected != staged.sha256:
                await blobs.discard(staged)
                raise ImportInvalid(f"{where}: the contents of {member} do not match its"
                                    " sha256")
            await blobs.publish(staged)
            doc: dict[str, Any] = {"_id": mapping.get(old, old), "sha256": staged.sha256,
                                   "size": float(staged.size),
                                   "_creationTime": _creation_time_or_now(line)}
            if isinstance(line.get("contentType"), str):
                doc["contentType"] = line["contentType"]
            docs.append(doc)
    return docs


def _read_member(archive: zipfile.ZipFile, member: str) -> Iterator[bytes]:
    with archive.open(member) as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


def _creation_time_or_now(line: dict[str, Any]) -> float:
    given = line.get("_creationTime")
    if isinstance(given, int | float) and not isinstance(given, bool) and math.isfinite(given):
        return float(given)
    return time.time() * 1000


def _expected_sha256(given: Any, where: str) -> str | None:
    """A `_storage` line's sha256 (Convex: base64; Reactor's own: also accepted as hex)."""
    if given is None:
        return None
    if isinstance(given, str) and len(given) == 64:
        return given.lower()
    try:
        return base64.b64decode(str(given), validate=True).hex()
    except (ValueError, binascii.Error):
        raise ImportInvalid(f"{where}: sha256: expected base64, got {given!r}") from None
