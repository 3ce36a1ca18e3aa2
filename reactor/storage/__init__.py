"""Layer 3: the storage interface and its SQLite implementation."""

from reactor.storage.base import (
    CommitRecord,
    DocumentWrite,
    IndexEntry,
    IndexWrite,
    Order,
    OutcomeWrite,
    SearchHit,
    SearchStatistics,
    SearchWrite,
    Storage,
    TextQuery,
)
from reactor.storage.sqlite import SqliteStorage

__all__ = [
    "CommitRecord",
    "DocumentWrite",
    "IndexEntry",
    "IndexWrite",
    "Order",
    "OutcomeWrite",
    "SearchHit",
    "SearchStatistics",
    "SearchWrite",
    "SqliteStorage",
    "Storage",
    "TextQuery",
]
