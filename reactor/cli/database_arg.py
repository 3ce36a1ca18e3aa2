"""`--db` on the commands that open a deployment without a server (`run`, `data`,
`export`, `import`), and a clear refusal on those that work only on a SQLite data
directory (`backup`, `restore`, `logs`): none of them may quietly use the SQLite
data directory when the deployment lives in PostgreSQL."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from reactor.errors import ReactorError, StorageError

ENV = "REACTOR_DB_URL"


def add_db_argument(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--db", dest="db_url", default=None, metavar="URL", help=text)


def database_url(arguments: argparse.Namespace) -> str | None:
    """`--db`, else `REACTOR_DB_URL` (as `reactor serve` reads them), else None (SQLite
    in the data directory)."""
    return getattr(arguments, "db_url", None) or os.environ.get(ENV) or None


def refuse_db(arguments: argparse.Namespace, command: str, instead: str) -> None:
    """Refuse a PostgreSQL deployment (`--db`, or `REACTOR_DB_URL`) for a command that
    works on a SQLite data directory only; `instead` says what to use."""
    url = database_url(arguments)
    if url:
        where = "--db" if getattr(arguments, "db_url", None) else ENV
        raise ReactorError(f"reactor {command} works on a SQLite data directory, and {where}"
                           f" names a PostgreSQL database: {instead}", code="BadArguments")


async def open_engine(arguments: argparse.Namespace, folder: Path, *, reading: bool,
                      through_node: bool = True, **options: Any) -> Any:
    """The engine of the app at `arguments.app_dir` over its deployment, started.

    On PostgreSQL, a command that only reads (`reading`) follows the commit log as a
    follower node does, whether nodes are running or not. One that writes opens the
    database as its committer when no node is serving it; when a node is (it holds
    the writer's lock), it follows and sends its commits to the committing node
    (`through_node`), or refuses, naming `--url`."""
    from reactor.runtime import Engine

    url = database_url(arguments)
    engine = Engine(arguments.app_dir, folder, db_url=url, follow=bool(url) and reading,
                    **options)
    try:
        await engine.start()
    except StorageError as error:
        if not url or reading or error.code != "DatabaseInUse":
            raise
        if not through_node:
            raise ReactorError(f"{url}: a Reactor node is serving this database; go through"
                               " it: --url http://NODE:PORT", code="DatabaseInUse") from None
        engine = Engine(arguments.app_dir, folder, db_url=url, follow=True, **options)
        await engine.start()
    return engine
