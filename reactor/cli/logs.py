"""`reactor logs`: function executions from the execution log, printed one per line.

Reads the data directory's `logs.sqlite3` directly (read-only, safe beside a
running server), or asks a running server (`--url`, `GET /api/admin/logs`).
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from reactor.cli.app_dir import data_dir
from reactor.cli.database_arg import add_db_argument
from reactor.cli.remote import admin_key as remote_admin_key
from reactor.cli.remote import request
from reactor.errors import ReactorError
from reactor.storage.log_store import STATUSES, ExecutionRecord, LogFilter, LogStore

FOLLOW_INTERVAL_S = 0.5
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def add_parser(commands: Any, app_arguments: Callable[..., None]) -> None:
    """Register `reactor logs` on the CLI's subcommands."""
    logs = commands.add_parser("logs", help="print function executions from the log")
    app_arguments(logs, positional=False)
    logs.add_argument("--url", default=None,
                      help="read a running server's log instead of the data directory")
    add_db_argument(logs, "refused: each node keeps its executions in its own data"
                          " directory, not in the database")
    logs.add_argument("--admin-key", default=None,
                      help="admin key for --url (default: read from the data directory)")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing new executions as they happen (Ctrl-C stops)")
    logs.add_argument("--function", default=None, metavar="PATH",
                      help='only this function ("notes:add"), or a module ("notes:")')
    logs.add_argument("--status", choices=STATUSES, default=None,
                      help="only successful or only failed executions")
    logs.add_argument("--text", default=None,
                      help="only executions with this text in the path, error or log lines")
    logs.add_argument("--since", default=None, metavar="DURATION",
                      help="only executions that started this long ago or later: 30s, 10m,"
                           " 2h, 1d")
    logs.add_argument("--limit", type=int, default=50, metavar="N",
                      help="print at most the last N executions before following (default 50)")


def parse_duration(text: str) -> float:
    """Seconds in `10m`, `30s`, `2h`, `1d` or a plain number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ReactorError(f"--since: expected a duration such as 30s, 10m, 2h or 1d, got"
                           f" {text!r}", code="BadArguments")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def format_record(record: ExecutionRecord) -> str:
    """One line (time, kind, path, duration, status, error) and the log lines indented."""
    when = datetime.datetime.fromtimestamp(record.started_ms / 1000, datetime.UTC)
    stamp = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    note = f" ({record.note})" if record.note else ""
    caller = f" by {record.caller}" if record.caller else ""
    status = record.status
    if record.error is not None:
        status += f" [Request ID: {record.request_id}] " + record.error.replace("\n", "\n    ")
    lines = [f"{stamp} [{record.kind}] {record.path}{note}{caller}"
             f" {record.duration_ms:.1f} ms {status}"]
    lines += [f"    {line}" for line in record.log_lines]
    return "\n".join(lines)


def run(arguments: argparse.Namespace) -> int:
    if arguments.db_url:
        raise ReactorError("reactor logs: each node keeps its function executions in its own"
                           " data directory, not in the database (--db): read a node's with"
                           " `reactor logs --data DIR` on its machine, or `--url` of that node",
                           code="BadArguments")
    if arguments.limit < 0:
        raise ReactorError(f"--limit: expected a number of executions, got {arguments.limit}",
                           code="BadArguments")
    since_ms = None
    if arguments.since is not None:
        since_ms = time.time() * 1000 - parse_duration(arguments.since) * 1000
    selection = LogFilter(since_ms=since_ms, path=arguments.function, status=arguments.status,
                          text=arguments.text, limit=arguments.limit, newest_first=True)
    read = _remote_reader(arguments) if arguments.url else _local_reader(arguments)
    try:
        records, last_id = read(selection)
        for record in reversed(records):
            _emit(record)
        if not arguments.follow:
            return 0
        cursor = max([last_id, *(r.id for r in records)])
        sys.stderr.write("following new executions (Ctrl-C stops)\n")
        sys.stderr.flush()
        while True:
            time.sleep(FOLLOW_INTERVAL_S)
            records, _last = read(LogFilter(after=cursor, since_ms=since_ms,
                                            path=arguments.function, status=arguments.status,
                                            text=arguments.text, limit=1000))
            for record in records:
                _emit(record)
                cursor = record.id
    except KeyboardInterrupt:
        return 0


def _emit(record: ExecutionRecord) -> None:
    sys.stdout.write(format_record(record) + "\n")
    sys.stdout.flush()


Reader = Callable[[LogFilter], tuple[list[ExecutionRecord], int]]


def _local_reader(arguments: argparse.Namespace) -> Reader:
    folder = data_dir(arguments)
    if not folder.is_dir():
        raise ReactorError(f"{folder}: no such data directory (pass --data DIR, the server's"
                           " data directory, or --url URL)", code="NotADataDirectory")
    holder: list[LogStore] = []

    def read(selection: LogFilter) -> tuple[list[ExecutionRecord], int]:
        # Opened again until the file exists (a server starting creates it).
        if not holder or not holder[0].available:
            holder[:] = [LogStore.open(folder, read_only=True)]
        store = holder[0]
        return store.query(selection), store.last_id()

    return read


def _remote_reader(arguments: argparse.Namespace) -> Reader:
    key = remote_admin_key(arguments)
    base = arguments.url.rstrip("/") + "/api/admin/logs"

    def read(selection: LogFilter) -> tuple[list[ExecutionRecord], int]:
        params: dict[str, str] = {"after": str(selection.after), "limit": str(selection.limit)}
        if selection.since_ms is not None:
            params["sinceMs"] = f"{selection.since_ms:.0f}"
        if selection.path:
            params["function"] = selection.path
        if selection.status:
            params["status"] = selection.status
        if selection.text:
            params["text"] = selection.text
        if selection.newest_first:
            params["newest"] = "1"
        reply = request("GET", f"{base}?{urllib.parse.urlencode(params)}", key, timeout=60)
        return [ExecutionRecord.from_json(r) for r in reply["records"]], int(reply["lastId"])

    return read
