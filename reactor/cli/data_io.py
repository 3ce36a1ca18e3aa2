"""`reactor export` and `reactor import`: Convex-compatible data in and out."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from reactor.cli.app_dir import data_dir, require_app
from reactor.cli.backup import remote_arguments
from reactor.cli.database_arg import add_db_argument, database_url, open_engine
from reactor.cli.files_config import blob_store_from_env
from reactor.storage.blobs import BlobStore, LocalBlobStore


def add_parsers(commands: Any, app_arguments: Any) -> None:
    """Register `reactor export` and `reactor import`."""
    export = commands.add_parser("export", help="write the deployment's data as a Convex"
                                 " snapshot zip")
    app_arguments(export, positional=False)
    export.add_argument("--path", required=True, type=Path,
                        help="the zip file to write (must not exist)")
    export.add_argument("--include-file-storage", action="store_true",
                        help="add the contents of stored files (_storage/<id>)")
    export.add_argument("--id-format", choices=["convex", "reactor"], default="convex",
                        help="write document ids as Convex ids (default; `npx convex import`"
                             " takes them, `reactor import` maps them back) or as Reactor's")
    add_db_argument(export, "export a PostgreSQL deployment, postgresql://... (default:"
                            " REACTOR_DB_URL, else the data directory), running or not")
    remote_arguments(export, "export from a running server over HTTP instead")
    load = commands.add_parser("import", help="import a snapshot zip or one table's file")
    load.add_argument("path", type=Path, help="a .zip snapshot, or a .jsonl/.json/.csv table")
    app_arguments(load, positional=False)
    load.add_argument("--table", default=None,
                      help="the table to import into (needed for jsonl, json and csv; with a"
                           " zip, import only this table)")
    modes = load.add_mutually_exclusive_group()
    modes.add_argument("--append", action="store_const", dest="mode", const="append",
                       help="add the documents to the tables")
    modes.add_argument("--replace", action="store_const", dest="mode", const="replace",
                       help="replace the tables' documents (atomically)")
    load.add_argument("--format", choices=["zip", "jsonl", "json", "csv"], default=None,
                      help="the file's format (default: from its extension)")
    add_db_argument(load, "import into a PostgreSQL deployment that no node is serving,"
                          " postgresql://... (default: REACTOR_DB_URL, else the data"
                          " directory); while nodes run, import through one with --url")
    remote_arguments(load, "import into a running server over HTTP instead")


def _blobs(folder: Path) -> BlobStore:
    make = blob_store_from_env(os.environ)
    return make(folder) if make is not None else LocalBlobStore(folder / "files")


def run_export(arguments: argparse.Namespace) -> int:
    if arguments.url:
        return _remote_export(arguments)
    from reactor.runtime.snapshots.export import export_data_dir, export_postgres

    folder = data_dir(arguments)
    url = database_url(arguments)

    async def export() -> Any:
        blobs = _blobs(folder) if arguments.include_file_storage else None
        try:
            if url:
                return await export_postgres(url, arguments.path, blobs=blobs,
                                             id_format=arguments.id_format)
            return await export_data_dir(folder, arguments.path, blobs=blobs,
                                         id_format=arguments.id_format)
        finally:
            if blobs is not None:
                await blobs.close()

    result = asyncio.run(export())
    sys.stdout.write(json.dumps({"path": str(result.path), "ts": result.ts,
                                 "tables": result.tables, "files": result.files,
                                 "bytes": result.bytes,
                                 "seconds": round(result.seconds, 3)}) + "\n")
    return 0


def _remote_export(arguments: argparse.Namespace) -> int:
    import time

    from reactor.cli.remote import admin_key
    from reactor.cli.transfer import download

    started = time.monotonic()
    query = f"?idFormat={arguments.id_format}"
    if arguments.include_file_storage:
        query += "&includeFileStorage=true"
    url = arguments.url.rstrip("/") + "/api/admin/export" + query
    size = download(url, admin_key(arguments), {}, arguments.path)
    sys.stdout.write(json.dumps({"path": str(Path(arguments.path).absolute()), "bytes": size,
                                 "seconds": round(time.monotonic() - started, 3)}) + "\n")
    return 0


def run_import(arguments: argparse.Namespace) -> int:
    if arguments.url:
        reply = _remote_import(arguments)
        skipped, summary = reply.pop("skipped", []), reply
    else:
        require_app(arguments.app_dir)
        report = asyncio.run(_import_local(arguments))
        skipped = report.skipped
        summary = {"ts": report.ts, "tables": report.tables, "files": report.files,
                   "mappedIds": report.mapped_ids, "seconds": round(report.seconds, 3)}
    for note in skipped:
        sys.stderr.write(f"import: skipped {note}\n")
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


def _remote_import(arguments: argparse.Namespace) -> Any:
    import urllib.parse

    from reactor.cli.remote import admin_key
    from reactor.cli.transfer import upload
    from reactor.runtime.snapshots.sources import detect_format

    fmt = detect_format(arguments.path, arguments.format)
    query = {"format": fmt, "mode": arguments.mode or "require_empty"}
    if arguments.table:
        query["table"] = arguments.table
    url = (arguments.url.rstrip("/") + "/api/admin/import?"
           + urllib.parse.urlencode(query))
    sys.stderr.write(f"import: sending {arguments.path} to {arguments.url}\n")
    return upload(url, admin_key(arguments), arguments.path)


async def _import_local(arguments: argparse.Namespace) -> Any:
    from reactor.runtime.snapshots.importer import import_parsed
    from reactor.runtime.snapshots.progress import Progress
    from reactor.runtime.snapshots.sources import detect_format, parse_import

    fmt = detect_format(arguments.path, arguments.format)
    parsed = parse_import(arguments.path, fmt, arguments.table)
    engine = await open_engine(arguments, data_dir(arguments), reading=False,
                               through_node=False, workers=0,
                               blob_store=blob_store_from_env(os.environ))
    try:
        return await import_parsed(engine.database, engine.files.blobs, parsed,
                                   arguments.mode or "require_empty", Progress())
    finally:
        await engine.stop()
