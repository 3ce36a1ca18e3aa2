"""The database's tunables."""

from __future__ import annotations

from dataclasses import dataclass, field

from reactor.transactions.limits import TransactionLimits
from reactor.transactions.writelog import DEFAULT_WINDOW_NS


@dataclass(frozen=True, slots=True)
class DatabaseOptions:
    """Tunables; the defaults suit an app server on one machine."""

    # Superseded revisions stay readable this long (snapshots, /api/query_at_ts).
    retention_ns: int = 60_000_000_000
    # Commits kept in the write log beyond what live snapshots need (see writelog.py).
    log_window_ns: int = DEFAULT_WINDOW_NS
    prune_interval_s: float = 10.0
    prune_batch: int = 5_000
    limits: TransactionLimits = field(default_factory=TransactionLimits)
