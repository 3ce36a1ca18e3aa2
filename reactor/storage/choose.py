"""Which store a server runs on: SQLite in the data directory, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reactor.storage.sqlite import SqliteStorage
from reactor.storage.sqlite_nodes import WorkerGroup

if TYPE_CHECKING:
    from reactor.storage.postgres import PostgresStorage


def make_storage(data_dir: Path, db_url: str | None, durability: str = "full",
                 group: WorkerGroup | None = None) -> SqliteStorage | PostgresStorage:
    """The store for `db_url` (`postgresql://...`), or SQLite in `data_dir` without one
    (shared with the other workers of `group`, for `reactor serve --workers N`).

    The PostgreSQL driver is imported only when a URL asks for it.
    """
    if db_url:
        from reactor.storage.postgres import PostgresStorage

        return PostgresStorage(db_url, durability=durability)
    return SqliteStorage(data_dir, durability=durability,  # type: ignore[arg-type]
                         group=group)
