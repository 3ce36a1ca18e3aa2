"""Recording every function call into the execution log, off the commit path.

`ExecutionLog.record` is an engine call listener: it turns the finished call
into an `ExecutionRecord` and appends it to an in-memory queue, nothing more,
so the event loop never waits on the log file. A writer thread takes what has
queued every `FLUSH_INTERVAL_S` (or sooner, once `BATCH` records wait) and
writes it in one SQLite transaction of its own file (storage/log_store.py),
and prunes by age and size every `PRUNE_INTERVAL_S`. Past `MAX_QUEUED` records
waiting (a disk far slower than the calls), new records are dropped and
counted rather than let memory grow.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from reactor.runtime.functions import FunctionKind
from reactor.runtime.outcome import Outcome
from reactor.storage.log_store import ExecutionRecord, LogStore, Row

logger = logging.getLogger("reactor.runtime")

FLUSH_INTERVAL_S = 0.2
BATCH = 512
MAX_QUEUED = 50_000
PRUNE_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class LogRetention:
    """How long and how much of the log is kept (defaults: 7 days, 100 MiB)."""

    max_age_s: float = 7 * 24 * 3600.0
    max_bytes: int = 100 * 1024 * 1024


def to_record(kind: FunctionKind, outcome: Outcome, now_ms: float) -> ExecutionRecord:
    """The log's record of a call that finished at `now_ms` (Unix ms)."""
    duration_ms = outcome.duration_s * 1000
    error = outcome.error
    return ExecutionRecord(
        path=outcome.path, kind=kind.value, started_ms=now_ms - duration_ms,
        duration_ms=duration_ms, status="success" if error is None else "failed",
        error=None if error is None else error.summary, log_lines=tuple(outcome.log_lines),
        request_id=outcome.request_id, caller=outcome.caller, note=outcome.note)


def to_row(kind: FunctionKind, outcome: Outcome, now_ms: float) -> Row:
    """`to_record(...).row()` without the record: what the queue holds (a tuple of atomic
    values is cheaper to make, and the garbage collector stops tracking it)."""
    duration_ms = outcome.duration_s * 1000
    error = outcome.error
    return (outcome.path, kind.value, now_ms - duration_ms, duration_ms,
            "success" if error is None else "failed", None if error is None else error.summary,
            tuple(outcome.log_lines), outcome.request_id, outcome.caller, outcome.note)


class ExecutionLog:
    """The engine's call listener that keeps every call in `data_dir`'s log file."""

    def __init__(self, data_dir: Path, retention: LogRetention | None = None) -> None:
        self.retention = retention or LogRetention()
        self.store = LogStore.open(data_dir)
        self.dropped = 0
        self.written = 0
        self._queue: collections.deque[Row] = collections.deque()
        self._wake = threading.Condition()
        self._stopping = False
        self._flushed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="reactor-log-writer",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def record(self, kind: FunctionKind, outcome: Outcome) -> None:
        """Queue one finished call (the engine's call listener; never blocks)."""
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.append(to_row(kind, outcome, time.time() * 1000))
        if len(self._queue) == BATCH:
            with self._wake:
                self._wake.notify()

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until what is queued now is in the file (tests, shutdown)."""
        target = self.written + len(self._queue)
        with self._wake:
            self._wake.notify()
        with self._flushed:
            self._flushed.wait_for(lambda: self.written >= target or not self._thread.is_alive(),
                                   timeout_s)

    def stop(self) -> None:
        """Write what is queued, prune, and close the file."""
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.store.close()

    def _run(self) -> None:
        next_prune = time.monotonic()
        while True:
            with self._wake:
                if not self._stopping and len(self._queue) < BATCH:
                    self._wake.wait(FLUSH_INTERVAL_S)
                stopping = self._stopping
            self._write_queued()
            if stopping or time.monotonic() >= next_prune:
                self._prune()
                next_prune = time.monotonic() + PRUNE_INTERVAL_S
            if stopping:
                return

    def _write_queued(self) -> None:
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            try:
                self.store.append_rows(batch)
            except Exception:
                logger.exception("could not write %d execution log records", len(batch))
            with self._flushed:
                self.written += len(batch)
                self._flushed.notify_all()

    def _prune(self) -> None:
        try:
            self.store.prune(self.retention.max_age_s, self.retention.max_bytes)
        except Exception:
            logger.exception("could not prune the execution log")
