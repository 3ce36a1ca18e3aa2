"""`reactor export`: a deployment's documents (and files) as a Convex snapshot zip.

Layout, as Convex writes and reads it: `README.md`; `_tables/documents.jsonl`
(`{"name", "id"}` per table); per table `<table>/documents.jsonl` (one document
per line, `_creationTime` order) and `<table>/generated_schema.jsonl` (`"uniform"`:
the lines use the lossless export JSON, convex_json.py); `_storage/documents.jsonl`
(`{_id, _creationTime, sha256 (base64), size, contentType}`) and `_storage/<id>`
holding each file's bytes, with --include-file-storage (as Convex: without it, no
`_storage` folder). Written line by line from a snapshot, so memory does not grow
with the tables.

Ids: with `id_format="convex"` (the default) every document id, and every string
anywhere in a document that is a well-formed id of an exported table, is written
in Convex's id form (convex_ids.py), derived from the Reactor id alone, so
references stay consistent without a lookup table; `_reactor/export.json` (a file
Convex's importer ignores) names the table of each number, so Reactor's importer
turns them back into the original ids. `id_format="reactor"` writes Reactor's ids.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from reactor.errors import ReactorError
from reactor.runtime.snapshots.convex_ids import encode_convex_id, rewrite_strings
from reactor.runtime.snapshots.convex_json import export_line
from reactor.runtime.system import STORAGE
from reactor.runtime.system.inline_blobs import read_inline
from reactor.schema.namespace import split_table
from reactor.storage import SqliteStorage, Storage
from reactor.storage.blobs import BlobStore
from reactor.storage.data_dir import make_private_dir
from reactor.storage.sqlite_backup import copy_database, database_file
from reactor.transactions.table_scan import scan_table
from reactor.values import Int64, id_parts, table_hash
from reactor.values.ids import ID_LENGTH

README = """# Snapshot export

Exported by Reactor at commit ts {ts}, in the layout of a Convex snapshot export:

- `_tables/documents.jsonl`: the tables, one `{{"name", "id"}}` per line.
- `<table>/documents.jsonl`: the table's documents, one JSON object per line,
  oldest first. Numbers with a fraction or exponent are float64, bare integers
  int64; `{{"$bytes": base64}}` is bytes, `{{"$float": base64}}` a non-finite float.
- `<table>/generated_schema.jsonl`: `"uniform"` (the encoding above).
- `_storage/documents.jsonl`: stored files' metadata; `_storage/<id>`: their
  contents (when exported with --include-file-storage).
- `_components/<name>/`: the tables of the component installed as `<name>`,
  laid out as above.

Import it with `reactor import snapshot.zip` (Reactor keeps the documents' ids), or
into Convex with `npx convex import snapshot.zip`. {ids}
"""
_IDS_NOTE = {
    "convex": "Document ids are written as Convex ids (`_reactor/export.json` maps their\n"
              "table numbers back to Reactor's tables).",
    "reactor": "Document ids are Reactor's (exported with --id-format reactor), which a\n"
               "Convex deployment does not take as `_id`s.",
}
IdFormat = Literal["convex", "reactor"]
ID_FORMATS: tuple[IdFormat, ...] = ("convex", "reactor")
FIRST_TABLE_NUMBER = 10001
# The number Convex gives its `_storage` table (and `_file_storage`) in a deployment
# created with its default system table numbers: 512 reserved + 28. Convex checks a
# snapshot's `_storage` ids against its own number (docs/guide/import-export.md).
STORAGE_TABLE_NUMBER = 540
MARKER = "_reactor/export.json"


@dataclass(slots=True)
class ExportResult:
    path: Path
    ts: int
    tables: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0


class _ConvexIds:
    """Rewrites Reactor ids of the exported tables into their Convex form."""

    def __init__(self, numbers: dict[str, int]) -> None:
        self._by_hash = {table_hash(table): number for table, number in numbers.items()}
        # References repeat (many tasks, one owner): remember recent conversions.
        self.id: Callable[[str], str] = functools.lru_cache(maxsize=65536)(self._convert)

    def _convert(self, value: str) -> str:
        parts = id_parts(value) if len(value) == ID_LENGTH else None
        number = None if parts is None else self._by_hash.get(parts[1])
        if parts is None or number is None:
            return value
        return encode_convex_id(number, parts[0])

    def value(self, value: Any) -> Any:
        return rewrite_strings(value, self.id)


async def export_storage(storage: Storage, out: Path, tables: list[str], ts: int, *,
                         blobs: BlobStore | None = None,
                         id_format: IdFormat = "convex") -> ExportResult:
    """Write the snapshot zip of `tables` as of `ts` to the new file `out` (through a
    temporary name, renamed when complete); `blobs` adds file contents."""
    if id_format not in ID_FORMATS:
        raise ReactorError(f"export: id_format must be one of {', '.join(ID_FORMATS)}, got"
                           f" {id_format!r}", code="ExportInvalid")
    started = time.monotonic()
    out = Path(out).absolute()
    if out.exists():
        raise ReactorError(f"{out} already exists; choose a new name for the export",
                           code="ExportExists")
    make_private_dir(out.parent)
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    result = ExportResult(out, ts)
    numbers = {name: FIRST_TABLE_NUMBER + index for index, name in enumerate(tables)}
    numbers[STORAGE] = STORAGE_TABLE_NUMBER
    ids = _ConvexIds(numbers) if id_format == "convex" else None
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED,
                             compresslevel=1, allowZip64=True) as archive:
            archive.writestr("README.md", README.format(ts=ts, ids=_IDS_NOTE[id_format]))
            if ids is not None:
                archive.writestr(MARKER, orjson.dumps(
                    {"idFormat": id_format,
                     "tables": {str(number): name for name, number in numbers.items()}}))
            listings: dict[str, bytes] = {}
            for name in tables:
                folder, local = _folder(name)
                listings[folder] = listings.get(folder, b"") + export_line(
                    {"name": local, "id": Int64(numbers[name])})
            for folder, listing in sorted(listings.items()):
                archive.writestr(f"{folder}_tables/documents.jsonl", listing)
            for name in tables:
                folder, local = _folder(name)
                archive.writestr(f"{folder}{local}/generated_schema.jsonl", '"uniform"\n')
                with archive.open(f"{folder}{local}/documents.jsonl", "w",
                                  force_zip64=True) as sink:
                    result.tables[name] = await _write_table(storage, name, ts, sink, ids)
            if blobs is not None:
                await _write_storage(storage, archive, ts, blobs, result, ids)
        with open(partial, "rb+") as handle:
            os.fsync(handle.fileno())
        os.rename(partial, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    result.bytes = out.stat().st_size
    result.seconds = time.monotonic() - started
    return result


def _folder(table: str) -> tuple[str, str]:
    """Where a table's files go: an installed component's table `c/t` under
    `_components/c/` as `t` (Convex's layout), the app's at the top."""
    component, local = split_table(table)
    return ("" if component is None else f"_components/{component}/"), local


async def _write_table(storage: Storage, table: str, ts: int, sink: IO[bytes],
                       ids: _ConvexIds | None) -> int:
    count = 0
    lines: list[bytes] = []
    async for doc in scan_table(storage, table, ts):
        lines.append(export_line(doc if ids is None else ids.value(doc)))
        count += 1
        if len(lines) >= 1000:
            sink.write(b"".join(lines))
            lines = []
    sink.write(b"".join(lines))
    return count


def storage_line(doc: dict[str, Any]) -> dict[str, Any]:
    """A `_storage` document as Convex writes it: sha256 in base64, size an integer."""
    line: dict[str, Any] = {"_id": doc["_id"], "_creationTime": doc["_creationTime"],
                            "sha256": base64.b64encode(bytes.fromhex(doc["sha256"])).decode(),
                            "size": Int64(int(doc["size"]))}
    if "contentType" in doc:
        line["contentType"] = doc["contentType"]
    return line


async def _write_storage(storage: Storage, archive: zipfile.ZipFile, ts: int,
                         blobs: BlobStore, result: ExportResult, ids: _ConvexIds | None
                         ) -> None:
    count = 0
    with archive.open("_storage/documents.jsonl", "w", force_zip64=True) as sink:
        async for doc in scan_table(storage, STORAGE, ts):
            line = storage_line(doc)
            if ids is not None:
                line["_id"] = ids.id(line["_id"])
            sink.write(export_line(line))
            count += 1
    result.tables[STORAGE] = count
    async for doc in scan_table(storage, STORAGE, ts):
        name = doc["_id"] if ids is None else ids.id(doc["_id"])
        with archive.open(f"_storage/{name}", "w", force_zip64=True) as sink:
            # A small file's contents may be kept in the database rather than the blob store.
            inline = await read_inline(storage, str(doc["sha256"]), ts)
            if inline is not None:
                sink.write(inline)
            else:
                async for chunk in blobs.read(str(doc["sha256"])):
                    sink.write(chunk)
        result.files += 1


async def export_data_dir(data_dir: Path, out: Path, *, blobs: BlobStore | None = None,
                          id_format: IdFormat = "convex") -> ExportResult:
    """Export the deployment in `data_dir`, running or not: from a consistent copy of
    its database (`VACUUM INTO`), so a long export never holds back the server."""
    work = Path(out).absolute().parent / f".{Path(out).name}.copy-{os.getpid()}"
    make_private_dir(work)
    try:
        await asyncio.to_thread(copy_database, database_file(data_dir), work / "reactor.sqlite3")
        storage = SqliteStorage(work)
        await storage.open_reader()
        try:
            saved = await storage.read_globals()
            tables = sorted(saved.get("tables", []))
            ts = int(saved.get("last_ts", 0))
            return await export_storage(storage, out, tables, ts, blobs=blobs,
                                        id_format=id_format)
        finally:
            await storage.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)



async def export_postgres(url: str, out: Path, *, blobs: BlobStore | None = None,
                          id_format: IdFormat = "convex") -> ExportResult:
    """Export the deployment in the PostgreSQL store at `url`, served by nodes or not:
    at its newest durable ts, read through reader connections only (no writer's lock).
    Superseded revisions stay readable for the retention window (60 s by default): a
    longer export of a store being written should go through a node (`--url`), which
    holds its snapshot."""
    from reactor.storage.postgres import PostgresStorage

    storage = PostgresStorage(url)
    await storage.open_reader()
    try:
        saved = await storage.read_globals()
        tables = sorted(saved.get("tables", []))
        ts = await storage.log_tail()
        return await export_storage(storage, out, tables, ts, blobs=blobs, id_format=id_format)
    finally:
        await storage.close()
