"""`reactor`: init, dev, serve, run, admin-key, env, codegen, migrate — a thin layer over the
Python API."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from importlib import metadata
from pathlib import Path
from typing import Any

from reactor.cli import backup, codegen, dashboard, data, data_io, env, init, logs, migrate
from reactor.cli.database_arg import add_db_argument
from reactor.errors import ReactorError


def _app_arguments(parser: argparse.ArgumentParser, *, positional: bool) -> None:
    if positional:
        parser.add_argument("app_dir", nargs="?", default=".", type=Path,
                            help="the app directory (schema.py, functions/); default: .")
    else:
        parser.add_argument("--app", dest="app_dir", default=Path("."), type=Path,
                            help="the app directory; default: .")
    parser.add_argument("--data", dest="data_dir", type=Path, default=None,
                        help="the data directory; default: APP_DIR/.reactor")


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3210)
    parser.add_argument("--durability", choices=["full", "normal"], default="full",
                        help="full: fsync every commit batch (default); normal: faster, a"
                             " power loss may drop the last commits (never corrupts)")
    parser.add_argument("--db", dest="db_url", default=None, metavar="URL",
                        help="store the data in PostgreSQL, postgresql://user@host/dbname"
                             "[?schema=NAME] (default: REACTOR_DB_URL, else SQLite in the"
                             " data directory)")
    parser.add_argument("--cors-origin", dest="cors_origins", action="append", default=None,
                        metavar="ORIGIN",
                        help="an origin allowed to call the HTTP API from a browser (repeat"
                             " for several; default: any origin, *)")
    parser.add_argument("--mutation-rate", type=float, default=None, metavar="PER_SECOND",
                        help="mutations per second per caller, 0 for no limit (default 500,"
                             " or REACTOR_MUTATION_RATE)")
    parser.add_argument("--action-rate", type=float, default=None, metavar="PER_SECOND",
                        help="actions per second per caller, 0 for no limit (default 50,"
                             " or REACTOR_ACTION_RATE)")
    parser.add_argument("--log-format", choices=["text", "json"], default=None,
                        help="print one line per function call: text (the default of dev)"
                             " on stderr, or json on stdout (one object per line, for log"
                             " shippers); serve prints none unless given")
    parser.add_argument("--metrics-port", default=None, metavar="[HOST:]PORT",
                        help="also serve /metrics on this port without the admin key (for a"
                             " Prometheus scraper on a private network); on --host unless"
                             " HOST is given")
    parser.add_argument("--follow", action="store_true",
                        help="serve as a follower node of a PostgreSQL store (--db) that"
                             " another Reactor node commits to: queries and subscriptions"
                             " follow its commits; mutations are committed through it")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reactor",
                                     description="A self-hosted reactive document database.")
    parser.add_argument("--version", action="version", version=f"reactor {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    init.add_parser(commands)

    dev = commands.add_parser("dev", help="serve the app and reload it when files change")
    _app_arguments(dev, positional=True)
    _server_arguments(dev)

    serve = commands.add_parser("serve", help="serve the app")
    _app_arguments(serve, positional=True)
    _server_arguments(serve)
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="serve from N processes sharing the port and the SQLite data"
                            " directory (one commits, the others follow; Linux); default 1")
    serve.add_argument("--backup-every", default=None, metavar="INTERVAL",
                       help="back up the deployment every INTERVAL (e.g. 6h, 30m, 1d), each"
                            " backup verified by restoring it into a scratch directory")
    serve.add_argument("--backup-keep", type=int, default=14, metavar="N",
                       help="keep the newest N scheduled backups (default 14)")
    serve.add_argument("--backup-dir", type=Path, default=None, metavar="DIR",
                       help="where scheduled backups go (required with --backup-every)")

    run = commands.add_parser("run", help="run one function and print its result as JSON")
    run.add_argument("path", help='function path, e.g. "tasks:list"')
    run.add_argument("args", nargs="?", default="{}", help="arguments as a JSON object")
    _app_arguments(run, positional=False)
    run.add_argument("--component", default=None, metavar="NAME",
                     help="run a function of the component installed as NAME (its own path)")
    run.add_argument("--url", default=None, help="call a running server instead")
    add_db_argument(run, "run against a PostgreSQL deployment, postgresql://... (default:"
                         " REACTOR_DB_URL, else the data directory): alone if no node serves"
                         " it, else committing through the committing node")
    run.add_argument("--admin-key", default=None,
                     help="admin key for --url (default: read from the data directory)")
    run.add_argument("--identity", default=None, metavar="JSON",
                     help='run a public function as this user, e.g. \'{"subject": "user-1"}\''
                          " (what ctx.auth.get_user_identity() returns); default: as the admin")

    admin = commands.add_parser("admin-key", help="print the deployment's admin key")
    _app_arguments(admin, positional=False)
    env.add_parser(commands, _app_arguments)
    backup.add_parsers(commands, _app_arguments)
    logs.add_parser(commands, _app_arguments)
    data.add_parser(commands, _app_arguments)
    dashboard.add_parser(commands, _app_arguments)
    data_io.add_parsers(commands, _app_arguments)
    codegen.add_parser(commands)
    migrate.add_parser(commands, _app_arguments)
    return parser


def _version() -> str:
    try:
        return metadata.version("reactor")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    if argv is None and arguments.command in ("dev", "serve"):
        use_system_allocator()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = _dispatch(arguments, [sys.executable, *sys.orig_argv[1:]])
    except ReactorError as error:
        sys.stderr.write(f"error [{error.code}]: {error.message}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)


def use_system_allocator() -> None:
    """Run the server on the C allocator (`PYTHONMALLOC=malloc`) unless the operator chose.

    CPython's own small-object allocator gives memory back only in whole 1 MiB
    arenas, and a few long-lived objects keep most arenas of a burst alive: after
    20,000 live queries ended, 45 of the 60 MB they took stayed. With malloc, the
    server's reclaim (`malloc_trim`, server/memory.py) returns all but about 10 MB.
    The setting must be in place when the interpreter starts, so the command
    starts itself again with it (same process id, same arguments).
    """
    if "PYTHONMALLOC" in os.environ:
        return
    os.environ["PYTHONMALLOC"] = "malloc"
    os.execv(sys.executable, [sys.executable, "-m", "reactor", *sys.argv[1:]])


def run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """The server's loop: uvloop when installed (it comes with uvicorn[standard]); its
    socket and timer handling costs a fraction of the default loop's per message."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def _backup_schedule(arguments: argparse.Namespace) -> Any:
    """`reactor serve --backup-every ...` as a schedule; None without it (or for dev)."""
    every = getattr(arguments, "backup_every", None)
    if every is None:
        return None
    from reactor.cli.backup import PASSPHRASE_ENV
    from reactor.runtime.backups.schedule import BackupSchedule, parse_interval

    if arguments.backup_dir is None:
        raise ReactorError("--backup-every needs --backup-dir DIR", code="BadConfig")
    if arguments.backup_keep < 1:
        raise ReactorError(f"--backup-keep: expected at least 1, got {arguments.backup_keep}",
                           code="BadConfig")
    return BackupSchedule(parse_interval(every), arguments.backup_keep,
                          arguments.backup_dir.absolute(),
                          os.environ.get(PASSPHRASE_ENV) or None,
                          copy_blobs=not os.environ.get("REACTOR_S3_BUCKET"))


def _dispatch(arguments: argparse.Namespace, command: list[str]) -> int:
    """Run the command; `command` is this process's own command line (what
    `serve --workers N` starts each worker with)."""
    from reactor.cli import commands
    from reactor.cli.app_dir import require_app

    match arguments.command:
        case "init":
            return init.run(arguments)
        case "dev" | "serve":
            from reactor.cli.serve import serve
            from reactor.cli.workers import check_options, supervise, worker_config

            require_app(arguments.app_dir)
            size = getattr(arguments, "workers", 1)
            backups = _backup_schedule(arguments)
            check_options(size, db_url=arguments.db_url or os.environ.get("REACTOR_DB_URL"),
                          follow=arguments.follow, backups=backups,
                          metrics_port=arguments.metrics_port)
            worker = worker_config(size)
            if size > 1 and worker is None:
                return asyncio.run(supervise(arguments.app_dir, arguments.data_dir,
                                             arguments.host, arguments.port, size, command))
            run_event_loop(serve(arguments.app_dir, arguments.data_dir, arguments.host,
                                 arguments.port, dev=arguments.command == "dev",
                                 durability=arguments.durability,
                                 cors_origins=arguments.cors_origins,
                                 mutation_rate=arguments.mutation_rate,
                                 action_rate=arguments.action_rate,
                                 backups=backups,
                                 log_format=arguments.log_format,
                                 db_url=arguments.db_url,
                                 metrics_port=arguments.metrics_port,
                                 follow=arguments.follow, worker=worker))
            return 0
        case "run":
            return commands.run(arguments)
        case "admin-key":
            return commands.admin_key(arguments)
        case "env":
            return env.run(arguments)
        case "logs":
            return logs.run(arguments)
        case "data":
            return data.run(arguments)
        case "codegen":
            return codegen.run(arguments)
        case "backup":
            return backup.run_backup(arguments)
        case "restore":
            return backup.run_restore(arguments)
        case "dashboard":
            return dashboard.run(arguments)
        case "export":
            return data_io.run_export(arguments)
        case "import":
            return data_io.run_import(arguments)
        case "migrate":
            return migrate.run(arguments)
    return 2
