"""The whole db API (writes, index ranges, terminals, pagination) against an in-memory oracle."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import cmp_to_key
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from reactor import MISSING, Int64, ReactorError, define_schema, define_table, v
from reactor.storage import SqliteStorage
from reactor.transactions import Database, QueryBuilder, Transaction
from reactor.values import compare

T = TypeVar("T")

SCHEMA = define_schema({
    "items": define_table({
        "g": v.optional(v.string()),
        "n": v.optional(v.number()),
        "s": v.optional(v.string()),
        "m": v.optional(v.any()),
    }).index("by_n", ["n"]).index("by_g_n", ["g", "n"]).index("by_g_s", ["g", "s"])
    .index("by_m", ["m"]),
})

# Declared fields of each index; every key then ends with _creationTime and _id.
INDEXES: dict[str, list[str]] = {
    "by_creation_time": [],
    "by_n": ["n"],
    "by_g_n": ["g", "n"],
    "by_g_s": ["g", "s"],
    "by_m": ["m"],
}

# Few distinct values per field, so equal keys (and the tiebreak) are common.
POOLS: dict[str, list[Any]] = {
    "g": ["a", "b", "c"],
    "n": [-1.5, 0.0, 1.0, 2.5, 7.0],
    "s": ["", "a", "a\x00", "ab", "b", "zz"],
    "m": [None, False, True, Int64(-3), Int64(5), -2.0, 5.0, float("inf"), "5", "a",
          b"\x00", b"x", [], [Int64(1)], [1.0, "x"], {"k": 1.0}],
}

FILTERS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "has_s": lambda doc: "s" in doc,
    "n_above_1": lambda doc: isinstance(doc.get("n"), float) and doc["n"] > 1.0,
    "g_not_b": lambda doc: doc.get("g") != "b",
}

Terminal = tuple[Literal["take", "first", "collect", "unique"], int]


@dataclass(frozen=True)
class QuerySpec:
    index: str
    eq: tuple[Any, ...]
    lower: tuple[str, Any] | None
    upper: tuple[str, Any] | None
    order: Literal["asc", "desc"]
    filter: str | None
    use_index: bool = True

    def build(self, db: Database, txn: Transaction) -> QueryBuilder:
        builder = db.query(txn, "items")
        if self.use_index:
            builder = builder.with_index(self.index, self._range)
        builder = builder.order(self.order)
        if self.filter is not None:
            builder = builder.filter(FILTERS[self.filter])
        return builder

    def _range(self, q: Any) -> Any:
        fields = INDEXES[self.index]
        for name, value in zip(fields, self.eq, strict=False):
            q = q.eq(name, value)
        bound_field = fields[len(self.eq)] if len(self.eq) < len(fields) else None
        if self.lower is not None and bound_field is not None:
            q = getattr(q, self.lower[0])(bound_field, self.lower[1])
        if self.upper is not None and bound_field is not None:
            q = getattr(q, self.upper[0])(bound_field, self.upper[1])
        return q

    def sort_key(self, doc: dict[str, Any]) -> list[Any]:
        return [field(doc, name) for name in INDEXES[self.index]] + [
            doc["_creationTime"], doc["_id"]]

    def matches(self, doc: dict[str, Any]) -> bool:
        fields = INDEXES[self.index]
        values = [field(doc, name) for name in fields]
        if any(compare(values[i], want) != 0 for i, want in enumerate(self.eq)):
            return False
        if len(self.eq) < len(fields):
            value = values[len(self.eq)]
            if self.lower is not None:
                c = compare(value, self.lower[1])
                if c < 0 or (c == 0 and self.lower[0] == "gt"):
                    return False
            if self.upper is not None:
                c = compare(value, self.upper[1])
                if c > 0 or (c == 0 and self.upper[0] == "lt"):
                    return False
        return self.filter is None or FILTERS[self.filter](doc)

    def oracle(self, docs: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Matching documents in index order, ordered with `compare` on the full key."""
        rows = [doc for doc in docs.values() if self.matches(doc)]
        rows.sort(key=cmp_to_key(lambda a, b: compare(self.sort_key(a), self.sort_key(b))),
                  reverse=self.order == "desc")
        return rows

    def before(self, a: list[Any], b: list[Any]) -> bool:
        """Whether key `a` comes strictly before key `b` in this query's order."""
        c = compare(a, b)
        return c < 0 if self.order == "asc" else c > 0


def field(doc: dict[str, Any], name: str) -> Any:
    return doc.get(name, MISSING)


def same(a: Any, b: Any) -> bool:
    """Equal as Reactor values: types count (Int64(1) is not 1.0), as do -0.0 and NaN."""
    return compare(a, b) == 0


def assert_docs(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [d["_id"] for d in got] == [d["_id"] for d in want]
    for g, w in zip(got, want, strict=True):
        assert same(g, w), (g, w)


values = {name: st.sampled_from(pool) for name, pool in POOLS.items()}
documents = st.fixed_dictionaries({}, optional=values)
patches = st.fixed_dictionaries({}, optional={
    name: st.one_of(strategy, st.just(MISSING)) for name, strategy in values.items()})


@st.composite
def query_specs(draw: st.DrawFn) -> QuerySpec:
    use_index = draw(st.integers(0, 9)) > 0
    index = draw(st.sampled_from(sorted(INDEXES))) if use_index else "by_creation_time"
    fields = INDEXES[index]
    eq = tuple(draw(values[name]) for name in fields[: draw(st.integers(0, len(fields)))])
    lower = upper = None
    if len(eq) < len(fields):
        pool = values[fields[len(eq)]]
        lower = draw(st.none() | st.tuples(st.sampled_from(["gt", "gte"]), pool))
        upper = draw(st.none() | st.tuples(st.sampled_from(["lt", "lte"]), pool))
    return QuerySpec(index, eq, lower, upper, draw(st.sampled_from(["asc", "desc"])),
                     draw(st.none() | st.sampled_from(sorted(FILTERS))), use_index)


terminals: st.SearchStrategy[Terminal] = st.tuples(
    st.sampled_from(["take", "first", "collect", "unique"]), st.integers(0, 6))


async def run_terminal(builder: QueryBuilder, terminal: Terminal) -> list[dict[str, Any]]:
    kind, n = terminal
    if kind == "take":
        return await builder.take(n)
    if kind == "collect":
        return await builder.collect()
    doc = await (builder.first() if kind == "first" else builder.unique())
    return [] if doc is None else [doc]


def expected_terminal(rows: list[dict[str, Any]], terminal: Terminal) -> list[dict[str, Any]]:
    kind, n = terminal
    if kind == "take":
        return rows[:n]
    if kind in ("first", "unique"):
        return rows[:1]
    return rows


class DatabaseModel(RuleBasedStateMachine):
    """One open write transaction at a time; `committed` mirrors the database."""

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="reactor-model-"))
        self.db = self.run(Database.open(SqliteStorage(self.dir, durability="normal"), SCHEMA))
        self.committed: dict[str, dict[str, Any]] = {}
        self.shadow: dict[str, dict[str, Any]] = {}
        self.txn: Transaction | None = None
        self.last_ts = self.db.latest_ts
        self.last_creation = 0.0

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def teardown(self) -> None:
        if self.txn is not None:
            self.txn.close()
        self.run(self.db.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def writer(self) -> Transaction:
        if self.txn is None:
            self.txn = self.db.begin()
        return self.txn

    # Writes ------------------------------------------------------------------

    @rule(target=ids, doc=documents)
    def insert(self, doc: dict[str, Any]) -> str:
        txn = self.writer()
        doc_id = self.run(txn.insert("items", dict(doc)))
        stored = self.run(txn.get(doc_id))
        assert stored is not None
        assert same({k: v for k, v in stored.items() if not k.startswith("_")}, doc)
        assert stored["_id"] == doc_id
        assert stored["_creationTime"] > self.last_creation
        self.last_creation = stored["_creationTime"]
        self.shadow[doc_id] = stored
        return doc_id

    @rule(docs=st.lists(documents, min_size=5, max_size=20))
    def insert_many(self, docs: list[dict[str, Any]]) -> None:
        for doc in docs:
            self.insert(doc)

    @rule(doc_id=ids, fields=patches)
    def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        txn = self.writer()
        if doc_id not in self.shadow:
            with pytest.raises(ReactorError) as info:
                self.run(txn.patch(doc_id, dict(fields)))
            assert info.value.code == "DocumentNotFound"
            return
        self.run(txn.patch(doc_id, dict(fields)))
        merged = {**self.shadow[doc_id], **fields}
        self.shadow[doc_id] = {k: v for k, v in merged.items() if v is not MISSING}

    @rule(doc_id=ids, doc=documents)
    def replace(self, doc_id: str, doc: dict[str, Any]) -> None:
        txn = self.writer()
        if doc_id not in self.shadow:
            with pytest.raises(ReactorError):
                self.run(txn.replace(doc_id, dict(doc)))
            return
        self.run(txn.replace(doc_id, dict(doc)))
        old = self.shadow[doc_id]
        self.shadow[doc_id] = {**doc, "_id": doc_id, "_creationTime": old["_creationTime"]}

    @rule(doc_id=consumes(ids))
    def delete(self, doc_id: str) -> None:
        txn = self.writer()
        if doc_id not in self.shadow:
            with pytest.raises(ReactorError):
                self.run(txn.delete(doc_id))
            return
        self.run(txn.delete(doc_id))
        del self.shadow[doc_id]

    @rule()
    def commit(self) -> None:
        if self.txn is None:
            return
        ts = self.run(self.db.commit(self.txn))
        self.txn.close()
        self.txn = None
        if self.shadow != self.committed or ts != self.last_ts:
            assert ts > self.last_ts
        self.last_ts = max(self.last_ts, ts)
        assert self.db.latest_ts == self.last_ts
        self.committed = dict(self.shadow)

    @rule()
    def abandon(self) -> None:
        if self.txn is not None:
            self.txn.close()
            self.txn = None
        self.shadow = dict(self.committed)

    @precondition(lambda self: self.txn is None)
    @rule()
    def reopen(self) -> None:
        self.run(self.db.close())
        self.db = self.run(Database.open(SqliteStorage(self.dir, durability="normal"), SCHEMA))
        assert self.db.latest_ts == self.last_ts

    # Reads -------------------------------------------------------------------

    @rule(doc_id=ids)
    def get(self, doc_id: str) -> None:
        got = self.run(self.writer().get(doc_id))
        want = self.shadow.get(doc_id)
        assert (got is None) == (want is None)
        if want is not None:
            assert same(got, want)

    @rule(spec=query_specs(), terminal=terminals)
    def query_own_writes(self, spec: QuerySpec, terminal: Terminal) -> None:
        """Inside the write transaction: its own uncommitted writes are visible."""
        self.check_query(self.writer(), spec, terminal, self.shadow)

    @rule(spec=query_specs(), terminal=terminals)
    def query_snapshot(self, spec: QuerySpec, terminal: Terminal) -> None:
        """A fresh read-only snapshot sees committed data only."""
        txn = self.db.begin(read_only=True)
        try:
            self.check_query(txn, spec, terminal, self.committed)
        finally:
            txn.close()

    def check_query(self, txn: Transaction, spec: QuerySpec, terminal: Terminal,
                    docs: dict[str, dict[str, Any]]) -> None:
        rows = spec.oracle(docs)
        builder = spec.build(self.db, txn)
        if terminal[0] == "unique" and len(rows) > 1:
            with pytest.raises(ReactorError) as info:
                self.run(run_terminal(builder, terminal))
            assert info.value.code == "NotUnique"
            return
        assert_docs(self.run(run_terminal(builder, terminal)), expected_terminal(rows, terminal))

    @precondition(lambda self: self.txn is None)
    @rule(spec=query_specs(), data=st.data())
    def paginate(self, spec: QuerySpec, data: st.DataObject) -> None:
        """Walk every page, then change the data and re-read each page pinned by endCursor."""
        pages: list[tuple[str | None, dict[str, Any]]] = []
        cursor: str | None = None
        while True:
            num_items = data.draw(st.integers(1, 5), label="numItems")
            result = self.read_page(spec, {"numItems": num_items, "cursor": cursor})
            assert len(result["page"]) <= num_items
            if not result["isDone"]:
                assert len(result["page"]) == num_items
            pages.append((cursor, result))
            cursor = result["continueCursor"]
            if result["isDone"]:
                break
            assert len(pages) <= len(self.committed) + 2, "pagination does not terminate"
        walked = [doc for _, result in pages for doc in result["page"]]
        assert_docs(walked, spec.oracle(self.committed))

        self.churn(data)
        rows = spec.oracle(self.committed)
        previous_end: list[Any] | None = None
        for start_cursor, result in pages:
            if not result["page"]:
                continue
            end = spec.sort_key(result["page"][-1])
            pinned = self.read_page(spec, {"numItems": 1, "cursor": start_cursor,
                                           "endCursor": result["continueCursor"]})
            want = [row for row in rows
                    if (previous_end is None or spec.before(previous_end, spec.sort_key(row)))
                    and not spec.before(end, spec.sort_key(row))]
            assert_docs(pinned["page"], want)
            assert pinned["continueCursor"] == result["continueCursor"]
            previous_end = end

    def read_page(self, spec: QuerySpec, options: dict[str, Any]) -> dict[str, Any]:
        txn = self.db.begin(read_only=True)
        try:
            return self.run(spec.build(self.db, txn).paginate(options))
        finally:
            txn.close()

    def churn(self, data: st.DataObject) -> None:
        """Commit a few inserts, patches and deletes between reads of pages."""
        txn = self.db.begin()
        docs = dict(self.committed)
        for doc in data.draw(st.lists(documents, max_size=4), label="inserted"):
            doc_id = self.run(txn.insert("items", dict(doc)))
            stored = self.run(txn.get(doc_id))
            assert stored is not None
            assert stored["_creationTime"] > self.last_creation
            self.last_creation = stored["_creationTime"]
            docs[doc_id] = stored
        if docs:
            for doc_id in data.draw(st.lists(st.sampled_from(sorted(docs)), max_size=3,
                                             unique=True), label="deleted"):
                self.run(txn.delete(doc_id))
                del docs[doc_id]
        self.run(self.db.commit(txn))
        txn.close()
        self.last_ts = self.db.latest_ts
        self.committed = docs
        self.shadow = dict(docs)

    @invariant()
    def timestamps_only_grow(self) -> None:
        assert self.db.latest_ts >= self.last_ts


DatabaseModel.TestCase.settings = settings(
    max_examples=50, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestDatabaseModel = DatabaseModel.TestCase
