"""Text search in the database: matching, ranking, filters, limits, snapshots, own writes."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reactor import ReactorError
from reactor.schema import define_schema, define_table, tokenize
from reactor.storage.choose import make_storage
from reactor.transactions import Database, Transaction
from reactor.values import v

NOTES = define_table({
    "body": v.optional(v.string()),
    "board": v.optional(v.union(v.string(), v.null())),
    "author": v.optional(v.string()),
}).search_index("search_body", search_field="body", filter_fields=["board", "author"])
SCHEMA = define_schema({"notes": NOTES})


@pytest.fixture
async def db(tmp_path: Path, db_url: str | None) -> AsyncIterator[Database]:
    database = await Database.open(make_storage(tmp_path, db_url, "normal"), SCHEMA)
    yield database
    await database.close()


async def insert(db: Database, *docs: dict[str, Any]) -> list[str]:
    txn = db.begin()
    ids = [await txn.insert("notes", doc) for doc in docs]
    await db.commit(txn)
    txn.close()
    return ids


def search(txn: Transaction, text: str, **filters: Any) -> Any:
    def build(q: Any) -> Any:
        q = q.search("body", text)
        for field, value in filters.items():
            q = q.eq(field, value)
        return q
    return db_query(txn).with_search_index("search_body", build)


def db_query(txn: Transaction) -> Any:
    from reactor.transactions import QueryBuilder
    return QueryBuilder(txn, "notes")


async def bodies(db: Database, text: str, **filters: Any) -> list[str]:
    txn = db.begin(read_only=True)
    try:
        return [doc["body"] for doc in await search(txn, text, **filters).collect()]
    finally:
        txn.close()


def test_tokenize_lowercases_splits_and_cuts_at_32_bytes() -> None:
    assert tokenize("Hello, WORLD! it's a_b 42x") == ["hello", "world", "it", "s", "a", "b",
                                                      "42x"]
    assert tokenize("Grüße aus Köln") == ["grüße", "aus", "köln"]
    long = "a" * 40
    assert tokenize(long) == ["a" * 32]
    # 16 two-byte characters fill 32 bytes exactly; a 17th is cut whole, never halved.
    assert tokenize("é" * 17) == ["é" * 16]


async def test_any_term_matches_and_the_last_is_a_prefix(db: Database) -> None:
    await insert(db, {"body": "hello world"}, {"body": "worldly goods"},
                 {"body": "say hello"}, {"body": "nothing here"}, {"body": "wor"})
    assert sorted(await bodies(db, "hello wor")) == ["hello world", "say hello", "wor",
                                                     "worldly goods"]
    # Only the last term is a prefix: "wor" in first place matches exactly.
    assert sorted(await bodies(db, "wor hello")) == ["hello world", "say hello", "wor"]
    assert await bodies(db, "HELLO!!") == ["say hello", "hello world"]
    assert await bodies(db, "") == []
    assert await bodies(db, " ,;") == []


async def test_relevance_order_and_newest_first_on_ties(db: Database) -> None:
    await insert(db, {"body": "cat"}, {"body": "cat cat cat dog"}, {"body": "dog"},
                 {"body": "cat"}, {"body": "a cat among many other words here"})
    txn = db.begin(read_only=True)
    docs = await search(txn, "cat").collect()
    txn.close()
    found = [doc["body"] for doc in docs]
    assert found[0] == "cat cat cat dog"
    assert found[-1] == "a cat among many other words here"
    # The two equal "cat" documents: the newer one first.
    ties = [doc for doc in docs if doc["body"] == "cat"]
    assert ties[0]["_creationTime"] > ties[1]["_creationTime"]


async def test_bm25_scores_follow_the_formula(db: Database) -> None:
    texts = ["apple banana", "apple apple cherry", "banana cherry date elder",
             "fig", "apple"]
    await insert(db, *({"body": t, "board": "a"} for t in texts))
    from reactor.schema import filter_token
    from reactor.storage import TextQuery
    query = TextQuery(("apple", "cherry"), False, ((filter_token(0, "a"),),))
    hits = await db.storage.search("notes.search_body", query, db.latest_ts, 10)
    lengths = [len(t.split()) + 2 for t in texts]  # terms plus one token per filter field
    average = sum(lengths) / len(texts)

    def bm25(text: str) -> float:
        words = text.split()
        total = 0.0
        for term in ("apple", "cherry"):
            n = sum(term in t.split() for t in texts)
            idf = max(math.log((len(texts) - n + 0.5) / (n + 0.5)), 1e-6)
            f = words.count(term)
            total += idf * f * 2.2 / (f + 1.2 * (0.25 + 0.75 * (len(words) + 2) / average))
        return total

    expected = sorted(((bm25(t), t) for t in texts if bm25(t) > 0), reverse=True)
    assert [hit.doc["body"] for hit in hits] == [t for _, t in expected]
    for hit, (score, _) in zip(hits, expected, strict=True):
        assert hit.score == pytest.approx(score, rel=1e-9)
    assert lengths  # the filter tokens count in the document length, as in FTS5
    stats = await db.storage.search_statistics("notes.search_body", query)
    assert (stats.documents, stats.tokens, stats.matching) == (5, sum(lengths), (3, 2))


async def test_eq_filters_and_missing_fields(db: Database) -> None:
    await insert(db, {"body": "note one", "board": "a", "author": "ann"},
                 {"body": "note two", "board": "b", "author": "ann"},
                 {"body": "note three"},
                 {"body": "note four", "board": None},
                 {"body": "note five", "board": "a", "author": "bob"})
    assert sorted(await bodies(db, "note", board="a")) == ["note five", "note one"]
    assert await bodies(db, "note", board="a", author="bob") == ["note five"]
    assert await bodies(db, "note", board="b", author="bob") == []
    # None matches a missing field and null alike.
    assert sorted(await bodies(db, "note", board=None)) == ["note four", "note three"]
    assert sorted(await bodies(db, "note", author=None)) == ["note four", "note three"]


async def test_snapshot_reads_patches_and_deletes(db: Database) -> None:
    first, second = await insert(db, {"body": "alpha beta", "board": "a"},
                                 {"body": "alpha", "board": "a"})
    old = db.begin(read_only=True)
    txn = db.begin()
    await txn.patch(first, {"body": "gamma"})
    await txn.patch(second, {"board": "b"})
    await db.commit(txn)
    txn.close()
    assert await bodies(db, "alpha", board="a") == []
    assert await bodies(db, "alpha", board="b") == ["alpha"]
    assert await bodies(db, "gamma") == ["gamma"]
    # The older snapshot still sees the documents as they were.
    assert sorted(doc["body"] for doc in await search(old, "alpha", board="a").collect()) == [
        "alpha", "alpha beta"]
    old.close()
    txn = db.begin()
    await txn.delete(first)
    await db.commit(txn)
    txn.close()
    assert await bodies(db, "gamma") == []
    # Pruning keeps what the latest snapshot sees and drops the superseded entries.
    db.options = type(db.options)(retention_ns=0)
    assert await db.prune_once() > 0
    assert await bodies(db, "alpha") == ["alpha"]
    stats = await db.storage.search_statistics("notes.search_body",
                                               search(db.begin(read_only=True), "alpha")
                                               ._plan.text_query())
    assert stats.documents == 1


async def test_a_mutation_sees_its_own_writes(db: Database) -> None:
    kept, changed, gone = await insert(db, {"body": "red apple"}, {"body": "red car"},
                                       {"body": "red sky"})
    txn = db.begin()
    new = await txn.insert("notes", {"body": "red red red"})
    await txn.patch(changed, {"body": "blue car"})
    await txn.delete(gone)
    found = await search(txn, "red").collect()
    assert [doc["_id"] for doc in found] == [new, kept]
    assert await search(txn, "blue").collect() == [await txn.get(changed)]
    txn.close()


async def test_limits_at_and_past_the_edge(db: Database) -> None:
    sixteen = " ".join(f"t{i}" for i in range(16))
    await insert(db, {"body": sixteen}, {"body": "x" * 40})
    assert await bodies(db, sixteen) == [sixteen]
    with pytest.raises(ReactorError, match="at most 16 terms"):
        await bodies(db, sixteen + " t16")
    # Terms are cut at 32 bytes on both sides, so a longer query term still matches.
    assert await bodies(db, "x" * 32) == ["x" * 40]
    assert await bodies(db, "x" * 50) == ["x" * 40]
    txn = db.begin(read_only=True)

    def eight(q: Any) -> Any:
        q = q.search("body", "t1")
        for _ in range(8):
            q = q.eq("board", None)
        return q

    assert len(await db_query(txn).with_search_index("search_body", eight).collect()) == 1
    with pytest.raises(ReactorError, match="at most 8 eq"):
        db_query(txn).with_search_index("search_body", lambda q: eight(q).eq("board", "a"))
    txn.close()


async def test_at_most_1024_results_are_scanned(db: Database) -> None:
    txn = db.begin()
    for i in range(1030):
        await txn.insert("notes", {"body": f"common word{i}"})
    await db.commit(txn)
    txn.close()
    txn = db.begin(read_only=True)
    assert len(await search(txn, "common").collect()) == 1024
    assert len(await search(txn, "common").take(2000)) == 1024
    assert len(await search(txn, "common").take(1023)) == 1023
    first = await search(txn, "common").paginate({"numItems": 1000, "cursor": None})
    assert len(first["page"]) == 1000 and not first["isDone"]
    rest = await search(txn, "common").paginate({"numItems": 1000,
                                                 "cursor": first["continueCursor"]})
    assert len(rest["page"]) == 24 and rest["isDone"]
    txn.close()


async def test_bad_searches_are_refused_clearly(db: Database) -> None:
    txn = db.begin(read_only=True)
    query = db_query(txn)
    with pytest.raises(ReactorError, match='search index "nope" not found'):
        query.with_search_index("nope", lambda q: q.search("body", "x"))
    with pytest.raises(ReactorError, match="searches 'body', not 'board'"):
        db_query(txn).with_search_index("search_body", lambda q: q.search("board", "x"))
    with pytest.raises(ReactorError, match="'title' is not a filter field"):
        db_query(txn).with_search_index("search_body",
                                        lambda q: q.search("body", "x").eq("title", 1))
    with pytest.raises(ReactorError, match=r"must call q\.search"):
        db_query(txn).with_search_index("search_body", lambda q: q.eq("board", "a"))
    with pytest.raises(ReactorError, match="expected a string"):
        db_query(txn).with_search_index("search_body", lambda q: q.search("body", 3))
    with pytest.raises(ReactorError, match="ordered by relevance"):
        search(txn, "x").order("desc")
    with pytest.raises(ReactorError, match="malformed search cursor"):
        await search(txn, "x").paginate({"numItems": 1, "cursor": "zzz"})
    txn.close()
