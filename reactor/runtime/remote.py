"""A query or mutation run in a worker process, as a "remote transaction".

The main process pins a snapshot (`Database.begin`) and sends a `RemoteCall`:
the function, its checked args, the caller's identity, the snapshot's
timestamp, the execution's seed and `ctx.now()`. The worker reads the same
SQLite file at that snapshot (WAL lets it read beside the main process's
writer), runs the handler with the ordinary `ctx` over its own `Transaction`,
and sends back a `RemoteResult`: the value or error, the log lines, the read
set and the buffered writes. The main process adopts them into its pinned
transaction and commits through the one committer, so OCC, idempotency and
subscriptions see no difference (see `docs/architecture.md`). This module is
the wire between the two; `worker.py` is the worker's side, `workers.py` the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reactor.runtime.outcome import FunctionError
from reactor.transactions import KeyInterval, PendingWrite, ReadSet, TransactionLimits


@dataclass(frozen=True)
class RemoteCall:
    kind: str  # "query" or "mutation"
    path: str
    args: dict[str, Any]
    identity: dict[str, Any] | None
    begin_ts: int
    seed: int
    now_ms: float
    tables: tuple[str, ...]
    limits: TransactionLimits
    user_time_limit_s: float
    # The request this call serves: its errors carry this id (client_errors.py).
    request_id: str = ""


@dataclass
class RemoteResult:
    value: Any = None
    # (message, code, data, is_app_error, request_id, summary, trace) of the
    # FunctionError, if the call failed.
    error: tuple[str, str, Any, bool, str, str, str] | None = None
    log_lines: list[str] = field(default_factory=list)
    reads: list[tuple[str, bytes, bytes | None]] = field(default_factory=list)
    writes: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = field(
        default_factory=list)
    longest_step_s: float = 0.0

    def function_error(self) -> FunctionError | None:
        if self.error is None:
            return None
        message, code, data, is_app_error, request_id, summary, trace = self.error
        return FunctionError(message, code=code, data=data, is_app_error=is_app_error,
                             request_id=request_id, summary=summary, trace=trace)

    def read_set(self) -> ReadSet:
        read_set = ReadSet()
        for index_id, start, end in self.reads:
            read_set.add(index_id, KeyInterval(start, end))
        return read_set

    def pending_writes(self) -> dict[str, PendingWrite]:
        return {doc_id: PendingWrite(table, old, new)
                for doc_id, table, old, new in self.writes}
