"""`reactor data [TABLE]`: the tables with their counts, or a table's documents, in the
terminal. Reads through the dashboard's admin-only system queries
(`_system/dashboard:tables`, `:documents`), locally or on a running server (`--url`)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from reactor.cli.app_dir import data_dir, require_app
from reactor.cli.database_arg import add_db_argument, open_engine
from reactor.cli.remote import admin_key as remote_admin_key
from reactor.cli.remote import request
from reactor.errors import ReactorError
from reactor.values.render import render_number

TABLES = "_system/dashboard:tables"
DOCUMENTS = "_system/dashboard:documents"
# Text longer than this in a cell is cut (a whole document is `reactor run`'s to print).
CELL_CHARS = 80


def add_parser(commands: Any, app_arguments: Callable[..., None]) -> None:
    """Register `reactor data` on the CLI's subcommands."""
    data = commands.add_parser("data", help="print the tables, or a table's documents")
    data.add_argument("table", nargs="?", default=None,
                      help="the table to print; without it, every table with its count")
    app_arguments(data, positional=False)
    data.add_argument("--limit", type=int, default=100, metavar="N",
                      help="print at most N documents (default 100)")
    data.add_argument("--order", choices=["asc", "desc"], default="desc",
                      help="by creation time: desc, newest first (default), or asc")
    data.add_argument("--url", default=None,
                      help="read a running server instead of opening the data directory")
    add_db_argument(data, "read a PostgreSQL deployment, postgresql://... (default:"
                          " REACTOR_DB_URL, else the data directory), running or not")
    data.add_argument("--admin-key", default=None,
                      help="admin key for --url (default: read from the data directory)")


Call = Callable[[str, dict[str, Any]], Awaitable[Any]]


def run(arguments: argparse.Namespace) -> int:
    if arguments.limit < 1:
        raise ReactorError(f"--limit: expected a positive number of documents, got"
                           f" {arguments.limit}", code="BadArguments")
    if arguments.url:
        key = remote_admin_key(arguments)
        base = arguments.url.rstrip("/")

        async def call(path: str, args: dict[str, Any]) -> Any:
            reply = request("POST", f"{base}/api/run", key,
                            {"path": path, "format": "convex_encoded_json", "args": [args]})
            if reply.get("status") != "success":
                raise ReactorError(str(reply.get("errorMessage", "")), code="ServerError")
            return reply["value"]

        output = asyncio.run(_render(arguments, call))
    else:
        require_app(arguments.app_dir)
        output = asyncio.run(_local(arguments))
    console = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 100_000)
    for part in output:
        console.print(part, markup=False, highlight=False)
    return 0


async def _local(arguments: argparse.Namespace) -> list[Any]:
    from reactor.runtime import FunctionKind
    from reactor.values import to_wire

    engine = await open_engine(arguments, data_dir(arguments), reading=True)

    async def call(path: str, args: dict[str, Any]) -> Any:
        outcome = await engine.call(FunctionKind.QUERY, path, args, admin=True)
        return to_wire(outcome.unwrap())

    try:
        return await _render(arguments, call)
    finally:
        await engine.stop()


async def _render(arguments: argparse.Namespace, call: Call) -> list[Any]:
    """What to print: the tables, or the documents (and a line saying what was left out)."""
    tables = await call(TABLES, {})
    if arguments.table is None:
        listing = Table("table", "documents")
        for table in tables:
            listing.add_row(Text(table["name"]), _count(table["count"]))
        return [listing] if tables else ["no tables yet"]
    counts = {table["name"]: _count(table["count"]) for table in tables}
    if arguments.table not in counts:
        names = ", ".join(counts) or "none yet"
        raise ReactorError(f"there is no table {arguments.table!r} (tables: {names})",
                           code="TableNotFound")
    page = (await call(DOCUMENTS, {"table": arguments.table, "order": arguments.order,
                                   "paginationOpts": {"numItems": arguments.limit,
                                                      "cursor": None}}))["page"]
    if not page:
        return [f"{arguments.table} has no documents"]
    columns = ["_id", "_creationTime"]
    for document in page:
        columns += [name for name in document if name not in columns]
    grid = Table()
    for name in columns:
        grid.add_column(Text(name))
    for document in page:
        grid.add_row(*(Text(_cell(name, document[name])) if name in document else ""
                       for name in columns))
    parts: list[Any] = [grid]
    total = counts[arguments.table]
    if len(page) < int(total):
        order = "newest" if arguments.order == "desc" else "oldest"
        parts.append(f"{len(page)} of {total} documents ({order} first); --limit N for more")
    return parts


def _count(value: Any) -> str:
    """A count as the wire gives it (an Int64 comes as `{"$integer": ...}`)."""
    if isinstance(value, dict):
        return str(value.get("$integer", value))
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _cell(name: str, value: Any) -> str:
    if name == "_creationTime" and isinstance(value, int | float):
        moment = datetime.datetime.fromtimestamp(value / 1000, datetime.UTC)
        return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, float):
        return render_number(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           separators=(",", ":"))
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"
