"""The storage interface: multi-version documents and index entries behind a Protocol."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One live index entry found by a scan, with the document it points at."""

    key: bytes
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class IndexScan:
    """One range of `Storage.scan_indexes`: at most `limit` live entries with
    `lo <= key < hi` (`hi=None`: open above), in ascending key order."""

    index_id: str
    lo: bytes
    hi: bytes | None
    limit: int


def scan_ranges(scans: Sequence[IndexScan]) -> tuple[tuple[int, bool], ...]:
    """(position, bounded above) of each scan that can return anything: the shape of the
    one statement a backend builds for `scan_indexes`."""
    return tuple((i, scan.hi is not None) for i, scan in enumerate(scans) if scan.limit > 0)


@dataclass(frozen=True, slots=True)
class DocumentWrite:
    """A new revision of a document; `value=None` is a deletion (a tombstone)."""

    doc_id: str
    table: str
    value: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class IndexWrite:
    """A new revision of one index key; `deleted=True` removes the key from the index."""

    index_id: str
    key: bytes
    doc_id: str
    deleted: bool


@dataclass(frozen=True, slots=True)
class OutcomeWrite:
    """A client mutation's result, kept so that a re-send is answered instead of re-run.

    One row per mutation, not a document with index entries: every client mutation
    writes one, so it is the cheapest thing a commit can carry.
    """

    session_id: str
    request_id: float
    value: bytes
    recorded_ms: float


@dataclass(frozen=True, slots=True)
class SearchWrite:
    """A document's new entry in a full-text index; `terms=None` removes its entry.

    `terms` are already tokenized (schema/search_indexes.py); `filters` are the
    tokens of its filter-field values. The entry replaces the document's previous
    one from the commit's ts on; older snapshots still see the previous one.
    """

    index_id: str
    doc_id: str
    terms: list[str] | None
    filters: list[str] = field(default_factory=list)
    creation_time: float = 0.0


@dataclass(frozen=True, slots=True)
class TextQuery:
    """Documents with any of `terms` (the last one a prefix when `prefix`), ranked BM25.

    `filters` is a conjunction of disjunctions: each group lists filter tokens
    of which a document must carry at least one.
    """

    terms: tuple[str, ...]
    prefix: bool
    filters: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One document found by a text search: higher `score` is more relevant."""

    doc: dict[str, Any]
    score: float


@dataclass(frozen=True, slots=True)
class SearchStatistics:
    """The corpus figures BM25 uses, for scoring a document not yet stored.

    `documents` and `tokens` count every stored entry of the index (superseded
    ones too, until pruned), as the engine's own ranking does; `matching` is,
    per query phrase, how many entries match it.
    """

    documents: int
    tokens: int
    matching: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VectorWrite:
    """A document's new entry in a vector index; `vector=None` removes its entry.

    `filters` are the tokens of its filter-field values, in filter-field order.
    """

    index_id: str
    doc_id: str
    vector: list[float] | None
    filters: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VectorQuery:
    """The `limit` nearest entries by cosine similarity, among those carrying any of
    `filters` (filter-field position, token); no filters: all entries."""

    vector: list[float]
    filters: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class VectorHit:
    doc_id: str
    score: float


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """Everything one commit wrote, all at the commit timestamp `ts`."""

    ts: int
    documents: list[DocumentWrite]
    index_writes: list[IndexWrite]
    outcomes: list[OutcomeWrite] = field(default_factory=list)
    search_writes: list[SearchWrite] = field(default_factory=list)
    vector_writes: list[VectorWrite] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IndexBuild:
    """An index to fill from the documents of its table (a schema change added it).

    `source_index_id` names an index holding every document of the table once
    (`by_creation_time`); `key_for` gives a document's key in the new index.
    """

    index_id: str
    source_index_id: str
    key_for: Callable[[dict[str, Any]], bytes]


@dataclass(frozen=True, slots=True)
class SearchBuild:
    """A full-text index to fill from the documents of its table (see IndexBuild);
    `entry_for` gives a document's entry (`terms=None`: the document has no terms)."""

    index_id: str
    source_index_id: str
    entry_for: Callable[[dict[str, Any]], SearchWrite]


@dataclass(frozen=True, slots=True)
class VectorBuild:
    """A vector index to fill from the documents of its table (see IndexBuild);
    `entry_for` gives a document's entry (`vector=None`: the document has none)."""

    index_id: str
    source_index_id: str
    entry_for: Callable[[dict[str, Any]], VectorWrite]


class Storage(Protocol):
    """Durable multi-version store; nothing above this layer speaks SQL.

    Every revision carries the `ts` of the commit that wrote it. A read at snapshot
    `ts` sees, for each document id or `(index_id, key)`, the newest revision with
    revision ts <= `ts`; a tombstone there means absent. A live index entry yields
    the revision of its document visible at the same snapshot. Commit timestamps
    must increase from one `write` to the next.
    """

    async def open(self) -> None:
        """Acquire the data directory and make the store ready for reads and writes."""
        ...

    async def close(self) -> None:
        """Release connections and the data directory lock."""
        ...

    async def read_globals(self) -> dict[str, Any]:
        """The JSON values last stored through `write(..., globals_)`, by name."""
        ...

    async def get_document(self, doc_id: str, ts: int) -> dict[str, Any] | None:
        """The document as of snapshot `ts`, or None if absent or deleted then."""
        ...

    async def scan_index(
        self, index_id: str, lo: bytes, hi: bytes | None, ts: int, order: Order, limit: int
    ) -> list[IndexEntry]:
        """At most `limit` live entries with `lo <= key < hi` at snapshot `ts`, in key order.

        `hi=None` leaves the range open above. The cost follows `limit` (plus any
        not-yet-pruned tombstones in the way), never the size of the range.
        """
        ...

    async def scan_indexes(self, scans: Sequence[IndexScan], ts: int
                           ) -> list[list[IndexEntry]]:
        """What `scan_index` (ascending) finds for each of `scans` at snapshot `ts`, in
        one round trip to the database: a transaction needing several small reads at
        once (an upload's token and contents) pays for one trip, not one per read."""
        ...

    async def search(self, index_id: str, query: TextQuery, ts: int, limit: int
                     ) -> list[SearchHit]:
        """At most `limit` documents of a full-text index matching `query` at snapshot `ts`,
        best first (BM25, k1=1.2, b=0.75), ties newest (`_creationTime`) first."""
        ...

    async def search_statistics(self, index_id: str, query: TextQuery) -> SearchStatistics:
        """The statistics `search` ranks `query` with (see SearchStatistics)."""
        ...

    async def vector_search(self, index_id: str, query: VectorQuery, ts: int, limit: int
                            ) -> list[VectorHit]:
        """The `limit` entries of a vector index live at `ts` most similar to the query
        (cosine, best first, exact: every entry is compared)."""
        ...

    async def write(self, commits: list[CommitRecord], globals_: dict[str, Any]) -> None:
        """Persist the commits and upsert the globals atomically; return once durable."""
        ...

    async def write_stream(self, records: AsyncIterable[CommitRecord],
                           globals_: dict[str, Any]) -> None:
        """Persist every record of `records` and upsert the globals as ONE atomic, durable
        transaction, taking the records as they come (memory holds a few at a time).

        For bulk imports: every record carries the same `ts`, newer than every stored
        commit. Within it, a later row for the same document or index key replaces an
        earlier one (a replaced table's tombstones, then documents with the same ids).
        `globals_` is read once `records` is exhausted (the producer may fill it in on
        the way). If iterating `records` raises, nothing is written.
        """
        ...

    async def prune(self, horizon_ts: int, batch: int) -> int:
        """Delete at most `batch` revisions superseded (or tombstoned) at or before
        `horizon_ts`; return how many went. Reads at snapshots >= `horizon_ts` are
        unaffected; 0 means nothing is left to prune up to that horizon."""
        ...

    async def get_outcome(self, session_id: str, request_id: float, ts: int) -> bytes | None:
        """The outcome stored for a mutation by a commit at or before `ts`, if any."""
        ...

    async def prune_outcomes(self, before_ms: float, batch: int) -> int:
        """Delete at most `batch` outcomes recorded before `before_ms`; how many went."""
        ...

    async def index_entry_count(self, index_id: str) -> int:
        """How many live entries the index has at the latest timestamp."""
        ...

    async def change_indexes(self, ts: int, builds: list[IndexBuild], dropped: list[str],
                             globals_: dict[str, Any], *,
                             search_builds: Sequence[SearchBuild] = (),
                             search_dropped: Sequence[str] = (),
                             vector_builds: Sequence[VectorBuild] = (),
                             vector_dropped: Sequence[str] = ()) -> dict[str, tuple[int, int]]:
        """Apply a schema's index changes in one atomic, durable write.

        Every entry of the `dropped` indexes (`search_dropped`: full-text indexes,
        `vector_dropped`: vector indexes)
        and of each built index goes; each built index is then filled at `ts` from
        its source as seen at snapshot `ts`, read in batches so that memory does not
        grow with the table; the globals are upserted. With builds, `ts` must be
        newer than every stored commit. Returns, per built index, (documents read,
        entries written).
        """
        ...


@dataclass(frozen=True, slots=True)
class LoggedWrite:
    """One document revision read back from the commit log, with the revision it replaced
    (`old`), so that a node that did not make the commit can tell which keys it wrote."""

    ts: int
    doc_id: str
    table: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CommitterInfo:
    """The committing node as it named itself in the store: its address for forwarded
    transactions, the secret the nodes of one store share, its term (`epoch`)."""

    address: str
    secret: str
    epoch: int


class CommitLog(Protocol):
    """A store that other processes commit to, read by a follower node (docs/architecture.md,
    "Many nodes"): the newest durable ts, the writes after a ts, and a wake-up."""

    async def open_follower(self) -> None:
        """Connect for reading and listening only: another process commits."""
        ...

    async def open_writer(self) -> None:
        """Start writing: this process has become the committer."""
        ...

    async def log_tail(self) -> int:
        """The ts at or below which every commit is durable and readable."""
        ...

    async def read_log(self, after_ts: int, upto_ts: int) -> list[LoggedWrite]:
        """The document revisions committed in `(after_ts, upto_ts]`, in ts order."""
        ...

    async def committer(self) -> CommitterInfo | None:
        """Where the committing node takes forwarded transactions, if one has said."""
        ...

    async def wait_for_commits(self, timeout_s: float) -> int | None:
        """Return when a commit may have happened since the last call, or after
        `timeout_s` (a missed wake-up costs latency only): the newest ts a wake-up
        said is durable, if one said, which spares the caller reading `log_tail`."""
        ...


class CommitterLease(Protocol):
    """The right to commit to a store that several processes serve: one holds it, the
    others take it over when its holder is gone (docs/architecture.md, "Many nodes")."""

    async def take_over(self, holder: str, address: str, term_s: float) -> CommitterInfo | None:
        """Take the lease if its holder is gone (or none ever held it); None if not."""
        ...

    async def renew(self, holder: str, term_s: float) -> bool:
        """Extend this process's term; False if another process has taken the lease."""
        ...

    async def close_writer(self) -> None:
        """Stop writing: another process took the lease."""
        ...

    async def cut_writer(self) -> int:
        """End another process's hold on the right to write, which keeps this one, the
        lease's new holder, from writing (a deposed committer that is stopped, not
        dead); how many holds were ended."""
        ...


class FollowableStorage(Storage, CommitLog, CommitterLease, Protocol):
    """A store another process commits to that this one can follow (PostgreSQL, or the
    SQLite data directory of `reactor serve --workers N`)."""
