"""`/metrics`: the server's instruments in Prometheus' text format (prometheus-client).

Each server has its own `CollectorRegistry`, never the library's global one,
so several servers in one process (tests, embedding) keep separate numbers.
Lower layers only count and call back: the committer reports each commit's
latency, sync sessions each push, the engine each finished call; values that
already live elsewhere (open sockets, live queries, commit counters, running
actions, file sizes) are read when scraped.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.responses import Response

from reactor.runtime import FunctionKind, Outcome
from reactor.storage.log_store import LOG_FILE
from reactor.storage.sqlite_schema import DB_NAME

if TYPE_CHECKING:
    from reactor.server.app import ReactorServer

# Seconds: from half a millisecond (a cached query) to ten seconds (a slow action).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
# Pending scheduled jobs are counted up to this many per scrape.
PENDING_JOBS_CAP = 10_000


class ServerMetrics:
    """The registry of one `ReactorServer`, fed by its engine, committer and sessions."""

    def __init__(self, server: ReactorServer) -> None:
        self.server = server
        self.registry = CollectorRegistry()
        self.function_calls = Counter(
            "reactor_function_calls", "Function calls by kind and status (live query runs"
            " included)", ["kind", "status"], registry=self.registry)
        # Observed on the loop once per call (queries included): no locks.
        self.function_duration = LabelledLoopHistogram(
            "reactor_function_duration_seconds", "How long function calls took, by kind"
            " (a mutation's includes its commit and retries)", "kind", LATENCY_BUCKETS,
            self.registry)
        # Observed by the committer, on the loop, once per commit: no locks (LoopHistogram).
        self.commit_latency = LoopHistogram(
            "reactor_commit_latency_seconds", "From a transaction's commit request to its"
            " commit being durable", LATENCY_BUCKETS, self.registry)
        self.push_latency = LoopHistogram(
            "reactor_push_latency_seconds", "From a commit to a WebSocket client being sent"
            " the Transition that shows it", LATENCY_BUCKETS, self.registry)
        self.pending_jobs = 0
        self.registry.register(_Current(self))
        # The labelled children, looked up once: `labels()` costs more than the count.
        self._calls: dict[tuple[FunctionKind, bool], Counter] = {}
        self._durations: dict[FunctionKind, LoopHistogram] = {}

    def attach(self) -> None:
        """Start counting: called once the engine is open."""
        engine = self.server.engine
        engine.add_call_listener(self.on_call)
        engine.database.committer.stats.latency_listeners.append(self.commit_latency.observe)

    def on_call(self, kind: FunctionKind, outcome: Outcome) -> None:
        ok = outcome.error is None
        calls = self._calls.get((kind, ok))
        if calls is None:
            calls = self._calls[kind, ok] = self.function_calls.labels(
                kind.value, "success" if ok else "failed")
        calls.inc()
        if outcome.duration_s > 0:
            duration = self._durations.get(kind)
            if duration is None:
                duration = self._durations[kind] = self.function_duration.labels(kind.value)
            duration.observe(outcome.duration_s)

    async def response(self) -> Response:
        """The current values in the text format (what `GET /metrics` answers)."""
        self.pending_jobs = await self.server.engine.scheduler.pending_jobs(PENDING_JOBS_CAP)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class LoopHistogram(Collector):
    """A histogram observed on the event loop's thread only, so without locks.

    prometheus-client's `Histogram` takes a lock for its sum and one for a bucket on
    every observation: a commit pushed to a thousand clients observes a thousand
    push latencies, and those locks were 8 % of the push's CPU. A scrape from
    another thread copies the counts, so `_count` matches the buckets; `_sum` may be
    one observation apart from them.
    """

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...],
                 registry: CollectorRegistry | None) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = list(buckets)
        # One count per upper bound, then the observations above the last (+Inf).
        self._counts = [0] * (len(buckets) + 1)
        self._sum = 0.0
        if registry is not None:  # None: one child of a LabelledLoopHistogram
            registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect.bisect_left(self._bounds, value)] += 1
        self._sum += value

    def cumulative(self) -> tuple[list[tuple[str, float]], float]:
        """(upper bound, observations up to it) pairs, +Inf last, and the sum."""
        counts, total = list(self._counts), self._sum
        bounds = [*(repr(float(bound)) for bound in self._bounds), "+Inf"]
        return list(zip(bounds, itertools.accumulate(counts), strict=True)), total

    def collect(self) -> Iterator[Metric]:
        buckets, total = self.cumulative()
        yield HistogramMetricFamily(self.name, self.documentation, sum_value=total,
                                    buckets=buckets)


class LabelledLoopHistogram(Collector):
    """LoopHistograms by the value of one label, exposed as one labelled family."""

    def __init__(self, name: str, documentation: str, label: str,
                 buckets: tuple[float, ...], registry: CollectorRegistry) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self._buckets = buckets
        self._children: dict[str, LoopHistogram] = {}
        registry.register(self)

    def labels(self, value: str) -> LoopHistogram:
        child = self._children.get(value)
        if child is None:
            child = self._children[value] = LoopHistogram(self.name, self.documentation,
                                                          self._buckets, None)
        return child

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, child in list(self._children.items()):
            buckets, total = child.cumulative()
            family.add_metric([value], buckets, sum_value=total)
        yield family


def _file_bytes(*paths: object) -> int:
    total = 0
    for path in paths:
        try:
            total += path.stat().st_size  # type: ignore[attr-defined]
        except OSError:
            continue
    return total


class _Current(Collector):
    """Values read at scrape time from where they are kept."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        server = self.metrics.server
        engine = server.engine
        stats = engine.stats()
        yield GaugeMetricFamily("reactor_connections", "Open sockets, HTTP and WebSocket",
                                value=server.gate.open)
        yield CounterMetricFamily("reactor_connections_refused", "Sockets refused at the"
                                  " connection caps", value=server.gate.refused)
        yield GaugeMetricFamily("reactor_sync_sessions", "Open WebSocket sync sessions",
                                value=len(server.sessions))
        yield GaugeMetricFamily("reactor_subscriptions", "Distinct live queries held (shared"
                                " by every client watching the same query)",
                                value=stats.query_entries)
        yield CounterMetricFamily("reactor_query_executions", "Live query runs (first runs"
                                  " and re-runs after commits)", value=stats.query_executions)
        yield CounterMetricFamily("reactor_commits", "Transactions committed",
                                  value=stats.commits)
        yield CounterMetricFamily("reactor_commit_batches", "SQLite transactions the commits"
                                  " were grouped into", value=stats.commit_batches)
        yield CounterMetricFamily("reactor_commit_conflicts", "Commits refused for a"
                                  " conflicting write (the mutation is re-run)",
                                  value=stats.conflicts)
        yield GaugeMetricFamily("reactor_scheduler_pending_jobs", "Scheduled jobs waiting"
                                f" to run (counted up to {PENDING_JOBS_CAP})",
                                value=self.metrics.pending_jobs)
        yield GaugeMetricFamily("reactor_scheduler_running_jobs", "Scheduled jobs running",
                                value=engine.scheduler.running_jobs)
        yield GaugeMetricFamily("reactor_actions_running", "Actions running",
                                value=engine.actions.running)
        yield GaugeMetricFamily("reactor_actions_waiting", "Actions waiting for a slot",
                                value=engine.actions.waiting)
        limited = CounterMetricFamily("reactor_rate_limited", "Calls refused by the"
                                      " per-caller rate limits", labels=["kind"])
        limited.add_metric(["mutation"], server.quotas.mutations.refused)
        limited.add_metric(["action"], server.quotas.actions.refused)
        yield limited
        data_dir = engine.data_dir
        size = GaugeMetricFamily("reactor_storage_bytes", "Bytes of the data directory's"
                                 " databases (with their write-ahead logs)", labels=["store"])
        if (data_dir / DB_NAME).exists():  # not on PostgreSQL: its size is its own to report
            size.add_metric(["data"], _file_bytes(data_dir / DB_NAME,
                                                  data_dir / f"{DB_NAME}-wal"))
        size.add_metric(["logs"], _file_bytes(data_dir / LOG_FILE,
                                              data_dir / f"{LOG_FILE}-wal"))
        yield size
        log = server.execution_log
        if log is not None:
            yield CounterMetricFamily("reactor_execution_log_dropped", "Execution records"
                                      " dropped because the log writer fell behind",
                                      value=log.dropped)
