"""Text search against a brute-force oracle, with concurrent commits between a search and its
commit: what a committed mutation's search saw is still exactly what the oracle finds then.

Compared: the set of matches exactly (at the snapshot, and again at the commit for every
mutation that commits); the order for consistency with BM25 — a document whose count of
every query term is at least another's, in a document no longer than it (one strictly),
never ranks below it, and documents with identical counts and lengths come newest first.
(Scores themselves depend on corpus statistics that include revisions kept for older
snapshots; test_search_text checks them against the formula on a fresh index.)
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.errors import ConflictError
from reactor.schema import define_schema, define_table, tokenize
from reactor.storage.choose import make_storage
from reactor.transactions import Database, QueryBuilder, Transaction
from reactor.values import v

SCHEMA = define_schema({
    "notes": define_table({"body": v.string(), "board": v.optional(v.string())})
    .search_index("search_body", search_field="body", filter_fields=["board"]),
    "marks": define_table({"n": v.number()}),
})
WORDS = ["apple", "apply", "ape", "banana", "band", "cat", "car", "cart"]
QUERY_WORDS = [*WORDS, "ap", "ba", "ca", "zebra"]
BOARDS = ["a", "b", None]

bodies = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)
boards = st.sampled_from(BOARDS)
writes = st.one_of(
    st.tuples(st.just("insert"), bodies, boards),
    st.tuples(st.just("patch"), st.integers(0, 50), bodies, boards),
    st.tuples(st.just("delete"), st.integers(0, 50)),
)
searches = st.tuples(st.lists(st.sampled_from(QUERY_WORDS), min_size=1, max_size=3),
                     st.sampled_from(["a", "b", None, "any"]))
steps = st.lists(st.tuples(searches, st.lists(writes, max_size=3)), min_size=1, max_size=8)


def profile(doc: dict[str, Any], terms: list[str]) -> tuple[list[int], int]:
    """Per query term the document's count (the last one as a prefix), and its length."""
    words = tokenize(doc["body"])
    last = len(terms) - 1
    counts = [sum(1 for w in words if w == t or (i == last and w.startswith(t)))
              for i, t in enumerate(terms)]
    return counts, len(words)


def query_terms(words: list[str]) -> list[str]:
    terms = tokenize(" ".join(words))
    unique = list(dict.fromkeys(terms[:-1]))
    return [t for t in unique if t != terms[-1]] + terms[-1:]


def oracle(docs: dict[str, dict[str, Any]], words: list[str], board: str | None
           ) -> set[str]:
    terms = query_terms(words)
    return {doc_id for doc_id, doc in docs.items()
            if any(profile(doc, terms)[0])
            and (board == "any" or doc.get("board") == board)}


def check_order(found: list[dict[str, Any]], words: list[str]) -> None:
    terms = query_terms(words)
    profiles = [profile(doc, terms) for doc in found]
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            (ci, li), (cj, lj) = profiles[i], profiles[j]
            if ci == cj and li == lj:
                assert found[i]["_creationTime"] > found[j]["_creationTime"], (found, i, j)
            dominated = ((ci, li) != (cj, lj) and lj <= li
                         and all(b >= a for a, b in zip(ci, cj, strict=True)))
            assert not dominated, f"{found[j]} outranks {found[i]} for {terms}"


def touches(before: dict[str, Any] | None, after: dict[str, Any] | None,
            words: list[str], board: str | None) -> bool:
    """Whether a write's old or new revision has a query term and the filter value."""
    terms = query_terms(words)
    return any(doc is not None and any(profile(doc, terms)[0])
               and (board == "any" or doc.get("board") == board)
               for doc in (before, after))


class Run:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.docs: dict[str, dict[str, Any]] = {}
        self.ids: list[str] = []

    async def write(self, op: tuple[Any, ...]) -> tuple[dict[str, Any] | None,
                                                        dict[str, Any] | None]:
        txn = self.db.begin()
        before: dict[str, Any] | None = None
        if op[0] == "insert":
            doc = {"body": op[1]} if op[2] is None else {"body": op[1], "board": op[2]}
            doc_id = await txn.insert("notes", doc)
            self.ids.append(doc_id)
        else:
            doc_id = self.ids[op[1] % len(self.ids)] if self.ids else ""
            before = self.docs.get(doc_id)
            if before is None:
                txn.close()
                return None, None
            if op[0] == "patch":
                await txn.replace(doc_id, {"body": op[2]} if op[3] is None
                                  else {"body": op[2], "board": op[3]})
            else:
                await txn.delete(doc_id)
        after = await txn.get(doc_id)
        await self.db.commit(txn)
        txn.close()
        if after is None:
            del self.docs[doc_id]
        else:
            self.docs[doc_id] = after
        return before, after


async def run_search(txn: Transaction, words: list[str], board: str | None
                     ) -> list[dict[str, Any]]:
    def build(q: Any) -> Any:
        q = q.search("body", " ".join(words))
        return q if board == "any" else q.eq("board", board)
    return await QueryBuilder(txn, "notes").with_search_index("search_body", build).collect()


async def scenario(directory: Path, plan: list[Any], db_url: str | None = None) -> None:
    db = await Database.open(make_storage(directory, db_url, "normal"), SCHEMA)
    try:
        run = Run(db)
        for (words, board), concurrent in plan:
            txn = db.begin()
            found = await run_search(txn, words, board)
            assert {doc["_id"] for doc in found} == oracle(run.docs, words, board)
            check_order(found, words)
            changed = False
            for op in concurrent:
                before, after = await run.write(op)
                changed |= touches(before, after, words, board)
            await txn.insert("marks", {"n": 1})
            try:
                await db.commit(txn)
            except ConflictError:
                # Refused only when a concurrent commit wrote a matching revision.
                assert changed
            else:
                assert {doc["_id"] for doc in found} == oracle(run.docs, words, board)
                assert not changed
            finally:
                txn.close()
    finally:
        await db.close()


def test_search_matches_the_oracle_under_concurrent_commits(db_url: str | None) -> None:
    # Fewer examples on PostgreSQL, where each opens a store of its own (a fresh schema).
    @settings(max_examples=60 if db_url is None else 10, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(setup=st.lists(writes, min_size=5, max_size=25), plan=steps)
    def check(setup: list[Any], plan: list[Any]) -> None:
        directory = Path(tempfile.mkdtemp(prefix="reactor-search-"))
        url = db_url and f"{db_url}_{uuid.uuid4().hex[:8]}"
        try:
            async def main() -> None:
                await scenario(directory, [((["x"], "any"), setup), *plan], url)
            asyncio.run(main())
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    check()
