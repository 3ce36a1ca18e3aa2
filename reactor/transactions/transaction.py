"""A transaction: reads at one snapshot, a read set, and a buffered write set."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from reactor.errors import InvalidValueError, NotFoundError, ReactorError
from reactor.schema import IndexDefinition, TableDefinition, index_id
from reactor.storage import IndexEntry, IndexScan, Order, OutcomeWrite, Storage
from reactor.transactions.catalog import Catalog
from reactor.transactions.limits import TransactionLimits, TransactionStats
from reactor.transactions.readset import KeyInterval, ReadSet, point_interval
from reactor.transactions.search_plan import SearchPlan
from reactor.values import MISSING, encode_key, key_after, new_id, value_size

SYSTEM_FIELDS = ("_id", "_creationTime")
# The key space of stored mutation outcomes in read sets and the write log: not a
# table index, but reads and writes of an outcome conflict like any other.
OUTCOMES_KEY_SPACE = "_mutation_outcomes.by_request"


def outcome_key(session_id: str, request_id: float) -> bytes:
    return encode_key([session_id, request_id])


class ReadOnlyError(ReactorError):
    code = "ReadOnly"


@dataclass(frozen=True, slots=True)
class Savepoint:
    """The writes of a transaction at one point (`Transaction.savepoint`)."""

    writes: dict[str, PendingWrite]
    outcomes: int
    after_commit: int


@dataclass(slots=True)
class PendingWrite:
    """A document's value at the snapshot (`old`) and what the transaction makes of it."""

    table: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ScannedDocument:
    key: bytes
    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScanRange:
    """Up to `limit` documents of `table` with `start <= key < end` in `index`."""

    table: TableDefinition
    index: IndexDefinition
    start: bytes
    end: bytes | None
    limit: int


class Transaction:
    """Everything one query or mutation execution reads and writes.

    Reads go to storage at `begin_ts` and see the transaction's own writes on
    top. Each read records the key interval it consumed, so that the committer
    (OCC) and the subscription layer know exactly what the result depends on.
    """

    def __init__(self, *, storage: Storage, catalog: Catalog, begin_ts: int,
                 read_only: bool, creation_time: Callable[[], float],
                 limits: TransactionLimits, on_close: Callable[[Transaction], None]) -> None:
        self.storage = storage
        self.catalog = catalog
        self.begin_ts = begin_ts
        self.read_only = read_only
        self.read_set = ReadSet()
        self.writes: dict[str, PendingWrite] = {}
        self.outcomes: list[OutcomeWrite] = []
        self.stats = TransactionStats(limits)
        # Run by `Database.commit` once this transaction has committed (never if it did not).
        self.after_commit: list[Callable[[], None]] = []
        self._creation_time = creation_time
        self._on_close = on_close
        self.closed = False

    def close(self) -> None:
        """Release the snapshot (lets old revisions be pruned)."""
        if not self.closed:
            self.closed = True
            self._on_close(self)

    # Reads -----------------------------------------------------------------

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        table = self.catalog.table_of_id(doc_id)
        if table is None:
            return None
        pending = self.writes.get(doc_id)
        if pending is not None:
            return copy.deepcopy(pending.new)
        definition = self.catalog.require(table)
        index = definition.indexes["by_id"]
        self._before_read()
        self.read_set.add(index_id(table, "by_id"), point_interval(index.key_for({"_id": doc_id})))
        doc = await self.storage.get_document(doc_id, self.begin_ts)
        if doc is not None:
            self.stats.count_read(1, value_size(doc))
        return doc

    async def read_outcome(self, session_id: str, request_id: float) -> bytes | None:
        """The stored outcome of a client mutation, as of the snapshot (see OutcomeWrite)."""
        self._before_read()
        self.read_set.add(OUTCOMES_KEY_SPACE, point_interval(outcome_key(session_id, request_id)))
        value = await self.storage.get_outcome(session_id, request_id, self.begin_ts)
        return value

    async def scan(self, table: TableDefinition, index: IndexDefinition, start: bytes,
                   end: bytes | None, order: Order, limit: int
                   ) -> tuple[list[ScannedDocument], bool]:
        """Up to `limit` documents with `start <= key < end` in `order`.

        Returns the documents and whether the range was exhausted. The read set
        grows by exactly the part of the range consumed.
        """
        self._before_read()
        fetch = limit + self._overlay_size(table)
        entries = await self.storage.scan_index(index_id(table.name or "", index.name), start,
                                                end, self.begin_ts, order, fetch)
        return self._scanned(ScanRange(table, index, start, end, limit), order, fetch, entries)

    async def scan_each(self, ranges: Sequence[ScanRange]
                        ) -> list[tuple[list[ScannedDocument], bool]]:
        """`scan` (ascending) of each range, all in one storage round trip: for the
        runtime's own transactions that need several small reads at once."""
        fetches = []
        for scan_range in ranges:
            self._before_read()
            fetches.append(scan_range.limit + self._overlay_size(scan_range.table))
        found = await self.storage.scan_indexes(
            [IndexScan(index_id(r.table.name or "", r.index.name), r.start, r.end, fetch)
             for r, fetch in zip(ranges, fetches, strict=True)], self.begin_ts)
        return [self._scanned(r, "asc", fetch, entries)
                for r, fetch, entries in zip(ranges, fetches, found, strict=True)]

    def _overlay_size(self, table: TableDefinition) -> int:
        return sum(1 for w in self.writes.values() if w.table == table.name)

    def _scanned(self, scan_range: ScanRange, order: Order, fetch: int,
                 entries: list[IndexEntry]) -> tuple[list[ScannedDocument], bool]:
        """What a scan that asked storage for `fetch` entries returns: `entries` merged
        with this transaction's own writes, the read set grown by the part consumed."""
        table, index, start, end = scan_range.table, scan_range.index, scan_range.start, \
            scan_range.end
        exhausted = len(entries) < fetch
        if exhausted:
            consumed = KeyInterval(start, end)
        elif order == "asc":
            consumed = KeyInterval(start, key_after(entries[-1].key))
        else:
            consumed = KeyInterval(entries[-1].key, end)
        self.read_set.add(index_id(table.name or "", index.name), consumed)
        self.stats.count_read(len(entries), sum(value_size(entry.doc) for entry in entries))
        merged = [ScannedDocument(entry.key, entry.doc) for entry in entries
                  if entry.doc["_id"] not in self.writes]
        for write in self.writes.values():
            if write.table == table.name and write.new is not None:
                key = index.key_for(write.new)
                if consumed.contains(key):
                    merged.append(ScannedDocument(key, copy.deepcopy(write.new)))
        merged.sort(key=lambda item: item.key, reverse=order == "desc")
        limit = scan_range.limit
        return merged[:limit], exhausted and len(merged) <= limit

    async def count(self, table_name: str) -> int:
        """How many documents `table_name` holds as of the latest commit, with this
        transaction's own writes: a figure to show (the dashboard's table sizes), not
        one to decide on. It is not in the read set: counting a large table takes a
        storage reader a while (0.3 s for 100,000 documents), too long to redo on
        every write, so its readers re-count on their own schedule."""
        self._before_read()
        stored = await self.storage.index_entry_count(index_id(table_name, "by_id"))
        for write in self.writes.values():
            if write.table == table_name:
                stored += (write.new is not None) - (write.old is not None)
        return stored

    async def search(self, table: TableDefinition, plan: SearchPlan, limit: int
                     ) -> list[dict[str, Any]]:
        """Up to `limit` documents matching a text search, best first, at the snapshot.

        Documents this transaction wrote are matched and scored here, so a
        mutation's search sees its own writes. The read set grows by the
        search's term keys (search_plan.py).
        """
        self._before_read()
        searched = index_id(table.name or "", plan.index.name)
        for interval in plan.read_intervals():
            self.read_set.add(searched, interval)
        overlay = [w.new for w in self.writes.values() if w.table == table.name]
        query = plan.text_query()
        hits = await self.storage.search(searched, query, self.begin_ts, limit + len(overlay))
        pending = [doc for doc in overlay if doc is not None and plan.matches(doc)]
        stats = (await self.storage.search_statistics(searched, query)) if pending else None
        self.stats.count_read(len(hits), sum(value_size(hit.doc) for hit in hits))
        ranked = [(hit.score, hit.doc["_creationTime"], hit.doc) for hit in hits
                  if hit.doc["_id"] not in self.writes]
        if stats is not None:
            ranked.extend((plan.score(doc, stats), doc["_creationTime"], copy.deepcopy(doc))
                          for doc in pending)
            ranked.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [doc for _, _, doc in ranked[:limit]]

    async def vector_search(self, table_name: str, searched: str, plan: Any
                            ) -> list[dict[str, Any]]:
        """`[{"_id", "_score"}]` for a checked `VectorPlan` (vector_search.py), best first.

        Documents this transaction wrote are scored here instead of in storage.
        """
        self._before_read()
        for interval in plan.read_intervals():
            self.read_set.add(searched, interval)
        overlay = [w.new for w in self.writes.values() if w.table == table_name]
        hits = await self.storage.vector_search(searched, plan.query(), self.begin_ts,
                                                plan.limit + len(overlay))
        ranked = [(hit.score, hit.doc_id) for hit in hits if hit.doc_id not in self.writes]
        ranked.extend((plan.score(doc), doc["_id"]) for doc in overlay
                      if doc is not None and plan.matches(doc))
        ranked.sort(key=lambda item: item[0], reverse=True)
        self.stats.count_read(len(hits), 0)
        return [{"_id": doc_id, "_score": score} for score, doc_id in ranked[:plan.limit]]

    def _before_read(self) -> None:
        if self.closed:
            raise ReactorError("this transaction is over: do not keep ctx.db past the handler",
                               code="TransactionClosed")
        self.stats.count_range()

    # Writes ----------------------------------------------------------------

    def _require_writable(self, operation: str) -> None:
        if self.read_only:
            raise ReadOnlyError(f"ctx.db.{operation} is not allowed in a query:"
                                " queries are read-only, use a mutation")

    async def insert(self, table_name: str, value: dict[str, Any]) -> str:
        self._require_writable("insert")
        table = self.catalog.require(table_name, for_write=True)
        _check_no_system_fields(value, f"insert into {table_name}")
        doc_id = new_id(table_name)
        # Validated whole, system fields included, so the size limit counts them too.
        doc, size = table.validate_sized(
            {**value, "_id": doc_id, "_creationTime": self._creation_time()}, "doc")
        self.stats.count_write(size)
        self.writes[doc_id] = PendingWrite(table_name, None, doc)
        return doc_id

    async def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        self._require_writable("patch")
        if not isinstance(fields, dict):
            raise InvalidValueError(
                f"patch: expected a dict of fields, got {type(fields).__name__}")
        table, current = await self._existing(doc_id, "patch")
        for name in SYSTEM_FIELDS:
            if name in fields and fields[name] != current[name]:
                raise InvalidValueError(f"patch: field {name} is a system field and cannot change")
        merged = {**current, **fields}
        self._put(doc_id, table, current, {k: v for k, v in merged.items() if v is not MISSING})

    async def replace(self, doc_id: str, value: dict[str, Any]) -> None:
        self._require_writable("replace")
        if not isinstance(value, dict):
            raise InvalidValueError(f"replace: expected a document, got {type(value).__name__}")
        table, current = await self._existing(doc_id, "replace")
        for name in SYSTEM_FIELDS:
            if name in value and value[name] != current[name]:
                raise InvalidValueError(
                    f"replace: field {name} is a system field and cannot change")
        self._put(doc_id, table, current, {**value, "_id": current["_id"],
                                           "_creationTime": current["_creationTime"]})

    async def delete(self, doc_id: str) -> None:
        self._require_writable("delete")
        table, current = await self._existing(doc_id, "delete")
        pending = self.writes.get(doc_id)
        old = pending.old if pending is not None else current
        if old is None:
            del self.writes[doc_id]
        else:
            self.writes[doc_id] = PendingWrite(table, old, None)

    async def _existing(self, doc_id: str, operation: str) -> tuple[str, dict[str, Any]]:
        table = self.catalog.table_of_id(doc_id)
        current = await self.get(doc_id) if table is not None else None
        if table is None or current is None:
            raise NotFoundError(f"{operation}: no document with id {doc_id!r}",
                                code="DocumentNotFound")
        return table, current

    def _put(self, doc_id: str, table_name: str, current: dict[str, Any],
             value: dict[str, Any]) -> None:
        """Validate and buffer a new value; `current` is what the caller just read."""
        table = self.catalog.require(table_name)
        doc, size = table.validate_sized(value, "doc")
        self.stats.count_write(size)
        pending = self.writes.get(doc_id)
        old = pending.old if pending is not None else copy.deepcopy(current)
        self.writes[doc_id] = PendingWrite(table_name, old, doc)

    def record_outcome(self, session_id: str, request_id: float, value: bytes,
                       recorded_ms: float) -> None:
        """Store a client mutation's outcome with this transaction's commit."""
        self._require_writable("record an outcome")
        self.outcomes.append(OutcomeWrite(session_id, request_id, value, recorded_ms))

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` after this transaction commits: for effects outside the database
        (removing a deleted file's blob) that must not happen if it is rolled back."""
        self.after_commit.append(callback)

    def adopt(self, read_set: ReadSet, writes: dict[str, PendingWrite]) -> None:
        """Take over what the same function, run elsewhere at this snapshot, read and
        buffered (the runtime runs some functions in worker processes), so the commit
        validates and applies it as if it had been done here. Inserted documents get
        their creation times here, in the order they were inserted there, so they stay
        unique and increasing across processes."""
        if writes:
            self._require_writable("adopt writes")
        self.read_set.update(read_set)
        inserts = sorted((w.new["_creationTime"], doc_id) for doc_id, w in writes.items()
                         if w.old is None and w.new is not None)
        for doc_id, write in writes.items():
            self.catalog.require(write.table, for_write=True)
            if write.new is not None:
                self.stats.count_write(value_size(write.new))
            self.writes[doc_id] = write
        for _, doc_id in inserts:
            new = self.writes[doc_id].new
            assert new is not None
            new["_creationTime"] = self._creation_time()

    def savepoint(self) -> Savepoint:
        """Where a sub-transaction starts: `roll_back_to` undoes what it wrote since."""
        return Savepoint(dict(self.writes), len(self.outcomes), len(self.after_commit))

    def roll_back_to(self, savepoint: Savepoint) -> None:
        """Undo the writes made since `savepoint` (its reads stay in the read set: what
        the caller decided depended on them too)."""
        self.writes.clear()
        self.writes.update(savepoint.writes)
        del self.outcomes[savepoint.outcomes:]
        del self.after_commit[savepoint.after_commit:]

    @property
    def has_writes(self) -> bool:
        return bool(self.writes) or bool(self.outcomes)


def _check_no_system_fields(value: object, where: str) -> None:
    if not isinstance(value, dict):
        raise InvalidValueError(f"{where}: expected a document (dict), got {type(value).__name__}")
    for name in SYSTEM_FIELDS:
        if name in value:
            raise InvalidValueError(f"{where}: field {name} is set by the system, leave it out")
