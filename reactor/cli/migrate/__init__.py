"""`reactor migrate prisma | data`: moving an app off Prisma and PostgreSQL."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from reactor.cli.backup import remote_arguments
from reactor.cli.migrate.prisma_codegen import render_schema, report_lines
from reactor.cli.migrate.prisma_plan import Choice, build_plan
from reactor.cli.migrate.prisma_schema import read_prisma
from reactor.errors import ReactorError


def add_parser(commands: Any, app_arguments: Any) -> None:
    """Register `reactor migrate ...` on the CLI's subcommands."""
    migrate = commands.add_parser("migrate", help="move an app's schema and data to Reactor")
    kinds = migrate.add_subparsers(dest="migrate_command", required=True)
    prisma = kinds.add_parser("prisma", help="write a schema.py from a schema.prisma")
    prisma.add_argument("prisma_schema", type=Path, help="the schema.prisma file")
    prisma.add_argument("--out", type=Path, default=None,
                        help="where to write schema.py (default: print it)")
    prisma.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    prisma.add_argument("--bigint", choices=["int64", "number"], default="int64",
                        help="BigInt as v.int64() (default) or v.number() (float64, exact to"
                             " 2**53)")
    prisma.add_argument("--decimal", choices=["number", "string"], default="number",
                        help="Decimal as v.number() (default, float64) or v.string() (exact)")
    _table_argument(prisma)

    data = kinds.add_parser("data", help="copy a Prisma app's PostgreSQL rows into Reactor")
    data.add_argument("--from", dest="source", required=True, metavar="POSTGRES_URL",
                      help="the database, e.g. postgresql://user@host:5432/app")
    data.add_argument("--prisma", dest="prisma_schema", type=Path, required=True,
                      help="the app's schema.prisma")
    app_arguments(data, positional=False)
    data.add_argument("--db", dest="db_url", default=None, metavar="URL",
                      help="the deployment keeps its data in this PostgreSQL database"
                           " (default: REACTOR_DB_URL, else SQLite in the data directory)")
    data.add_argument("--batch", type=int, default=500,
                      help="rows per Reactor transaction (default 500)")
    remote_arguments(data, "copy into a running server over HTTP instead: each batch is"
                           " one transaction there (`POST /api/admin/migration`)")
    _table_argument(data)


def _table_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--table", dest="tables", action="append", default=[],
                        metavar="MODEL=TABLE",
                        help="the Reactor table of a model (repeat for several)")


def _tables(arguments: argparse.Namespace) -> dict[str, str]:
    tables: dict[str, str] = {}
    for item in arguments.tables:
        model, sep, table = item.partition("=")
        if not sep or not model or not table:
            raise ReactorError(f"--table {item!r}: expected MODEL=TABLE, e.g. User=users",
                               code="BadArguments")
        tables[model] = table
    return tables


def run(arguments: argparse.Namespace) -> int:
    if arguments.migrate_command == "prisma":
        return _schema(arguments)
    from reactor.cli.migrate.data import copy_from_postgres

    return asyncio.run(copy_from_postgres(arguments, _tables(arguments)))


def _schema(arguments: argparse.Namespace) -> int:
    plan = build_plan(read_prisma(arguments.prisma_schema), bigint=Choice(arguments.bigint),
                      decimal=Choice(arguments.decimal), tables=_tables(arguments))
    text = render_schema(plan)
    for line in report_lines(plan):
        sys.stderr.write(line + "\n")
    out: Path | None = arguments.out
    if out is None:
        sys.stdout.write(text)
        return 0
    if out.exists() and not arguments.force:
        raise ReactorError(f"{out} exists: pass --force to overwrite it", code="BadArguments")
    out.write_text(text, encoding="utf-8")
    sys.stderr.write(f"wrote {out}: {len(plan.tables)} tables, {len(plan.enums)} enums\n")
    return 0
