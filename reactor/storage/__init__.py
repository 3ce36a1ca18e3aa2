"""Layer 3: the storage interface and its SQLite implementation."""

from reactor.storage.base import (
    CommitRecord,
    DocumentWrite,
    IndexBuild,
    IndexEntry,
    IndexWrite,
    Order,
    OutcomeWrite,
    SearchBuild,
    SearchHit,
    SearchStatistics,
    SearchWrite,
    Storage,
    TextQuery,
    VectorBuild,
    VectorHit,
    VectorQuery,
    VectorWrite,
)
from reactor.storage.sqlite import SqliteStorage

__all__ = [
    "CommitRecord",
    "DocumentWrite",
    "IndexBuild",
    "IndexEntry",
    "IndexWrite",
    "Order",
    "OutcomeWrite",
    "SearchBuild",
    "SearchHit",
    "SearchStatistics",
    "SearchWrite",
    "SqliteStorage",
    "Storage",
    "TextQuery",
    "VectorBuild",
    "VectorHit",
    "VectorQuery",
    "VectorWrite",
]
