"""`reactor migrate data`: open both ends, copy, print the verification report.

The deployment is opened here (`--data` / `--db`), or addressed as a running server
(`--url URL --admin-key KEY`), which then runs each batch's transaction itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from reactor.cli.app_dir import data_dir, require_app
from reactor.cli.migrate.prisma_plan import build_plan
from reactor.cli.migrate.prisma_schema import read_prisma
from reactor.cli.migrate.prisma_targets import resolve_targets
from reactor.errors import ReactorError


def _progress(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


async def copy_from_postgres(arguments: argparse.Namespace, tables: dict[str, str]) -> int:
    import asyncpg

    from reactor.cli.migrate.prisma_copy import Copier, MigrationSourceError
    from reactor.cli.migrate.sinks import LocalSink, RemoteSink
    from reactor.runtime import Engine

    plan = build_plan(read_prisma(arguments.prisma_schema))
    require_app(arguments.app_dir)
    if arguments.batch < 1:
        raise ReactorError("--batch must be at least 1", code="BadArguments")
    try:
        connection = await asyncpg.connect(arguments.source, timeout=30)
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as error:
        raise MigrationSourceError(f"cannot connect to {_safe(arguments.source)}:"
                                   f" {str(error).strip()}") from None
    # Every table read from one snapshot, read-only; JSON columns as values, not text.
    reading = connection.transaction(isolation="repeatable_read", readonly=True)
    await reading.start()
    for json_type in ("json", "jsonb"):
        await connection.set_type_codec(json_type, encoder=json.dumps, decoder=json_value,
                                        schema="pg_catalog")
    try:
        if arguments.url:
            from reactor.cli.remote import admin_key
            from reactor.runtime.loader import load_app

            # The app's schema (here, as the server runs it) gives the targets; the
            # server validates each document again as it writes it.
            targets = resolve_targets(plan, load_app(arguments.app_dir).schema, tables)
            sink = RemoteSink(arguments.url, admin_key(arguments))
            report = await Copier(sink, connection, plan, targets, batch=arguments.batch,
                                  progress=_progress).run()
        else:
            # A crash or kill loses nothing that a rerun would not redo (documents and
            # their mapping entries commit together), so commits need not wait for fsync.
            engine = Engine(arguments.app_dir, data_dir(arguments), workers=0,
                            durability="normal",
                            db_url=arguments.db_url or os.environ.get("REACTOR_DB_URL") or None)
            await engine.start()
            try:
                targets = resolve_targets(plan, engine.app.schema, tables)
                report = await Copier(LocalSink(engine.database), connection, plan, targets,
                                      batch=arguments.batch, progress=_progress).run()
            finally:
                await engine.stop()
    finally:
        await connection.close()
    for line in report.lines():
        sys.stdout.write(line + "\n")
    return 0 if report.ok else 1


def json_value(text: str) -> object:
    """A JSON column's value with every number a float64, as the Prisma client's
    JSON.parse made it (PostgreSQL writes 1e300 as 301 digits, which would otherwise
    become a Python int too big for Reactor)."""
    return json.loads(text, parse_int=float)


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}@{tail}"
