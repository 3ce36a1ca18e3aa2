"""Layer 4: snapshot reads, read sets, the write log, the committer and the query builder."""

from reactor.transactions.catalog import Catalog
from reactor.transactions.committer import CommitStats
from reactor.transactions.database import Database
from reactor.transactions.hybrid_search import RRF_K, run_hybrid_search
from reactor.transactions.index_range import IndexRange
from reactor.transactions.limits import TransactionLimits
from reactor.transactions.options import DatabaseOptions
from reactor.transactions.ordering import CommitOrder, CommitTicket
from reactor.transactions.query import QueryBuilder, first_of_each
from reactor.transactions.query_terminals import QueryError
from reactor.transactions.readset import KeyInterval, ReadSet
from reactor.transactions.schema_change import SchemaChange
from reactor.transactions.transaction import PendingWrite, ReadOnlyError, Transaction
from reactor.transactions.vector_search import run_vector_search
from reactor.transactions.writelog import KeyWrite, LogEntry, WriteLog

__all__ = [
    "RRF_K",
    "Catalog",
    "CommitOrder",
    "CommitStats",
    "CommitTicket",
    "Database",
    "DatabaseOptions",
    "IndexRange",
    "KeyInterval",
    "KeyWrite",
    "LogEntry",
    "PendingWrite",
    "QueryBuilder",
    "QueryError",
    "ReadOnlyError",
    "ReadSet",
    "SchemaChange",
    "Transaction",
    "TransactionLimits",
    "WriteLog",
    "first_of_each",
    "run_hybrid_search",
    "run_vector_search",
]
