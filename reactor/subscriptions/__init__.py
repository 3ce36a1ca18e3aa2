"""Layer 5: which queries a commit touched, and keeping shared query results current."""

from reactor.subscriptions.interval_tree import IntervalHandle, IntervalTree
from reactor.subscriptions.manager import (
    AdvanceListener,
    QueryEntry,
    QueryResult,
    RunQuery,
    SubscriptionManager,
    Watcher,
)

__all__ = [
    "AdvanceListener",
    "IntervalHandle",
    "IntervalTree",
    "QueryEntry",
    "QueryResult",
    "RunQuery",
    "SubscriptionManager",
    "Watcher",
]
