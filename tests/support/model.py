"""The oracle for db model tests: a schema, value pools, query specs and their expected rows."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any, Literal

from hypothesis import strategies as st

from reactor import MISSING, Int64, define_schema, define_table, v
from reactor.transactions import Database, QueryBuilder, Transaction
from reactor.values import compare

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


def random_spec(rng: random.Random) -> QuerySpec:
    """A query spec from a seeded generator, for tests that run many queries on one data set."""
    index = rng.choice(sorted(INDEXES))
    fields = INDEXES[index]
    eq = tuple(rng.choice(POOLS[name]) for name in fields[: rng.randint(0, len(fields))])
    lower = upper = None
    if len(eq) < len(fields) and rng.random() < 0.7:
        pool = POOLS[fields[len(eq)]]
        lower = rng.choice([None, ("gt", rng.choice(pool)), ("gte", rng.choice(pool))])
        upper = rng.choice([None, ("lt", rng.choice(pool)), ("lte", rng.choice(pool))])
    return QuerySpec(index, eq, lower, upper, rng.choice(["asc", "desc"]),
                     rng.choice([None, *sorted(FILTERS)]))
