"""The whole db API (writes, index ranges, terminals, pagination) against an in-memory oracle."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

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
    run_state_machine_as_test,
)
from support.model import (
    POOLS,
    SCHEMA,
    QuerySpec,
    Terminal,
    assert_docs,
    documents,
    expected_terminal,
    patches,
    query_specs,
    random_spec,
    run_terminal,
    same,
    terminals,
)

from reactor import MISSING, ReactorError
from reactor.storage import SqliteStorage, Storage
from reactor.storage.choose import make_storage
from reactor.storage.postgres import PostgresStorage
from reactor.transactions import Database, Transaction

T = TypeVar("T")


class DatabaseModel(RuleBasedStateMachine):
    """One open write transaction at a time; `committed` mirrors the database."""

    ids = Bundle("ids")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dir = Path(tempfile.mkdtemp(prefix="reactor-model-"))
        self.db = self.run(Database.open(self.storage(), SCHEMA))
        self.committed: dict[str, dict[str, Any]] = {}
        self.shadow: dict[str, dict[str, Any]] = {}
        self.txn: Transaction | None = None
        self.last_ts = self.db.latest_ts
        self.last_creation = 0.0

    def storage(self) -> Storage:
        return SqliteStorage(self.dir, durability="normal")

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
        self.db = self.run(Database.open(self.storage(), SCHEMA))
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
            if not result["page"] and not result["isDone"]:
                continue
            # The last page is pinned to the end of the range: it grows with appended rows.
            end = None if result["isDone"] else spec.sort_key(result["page"][-1])
            pinned = self.read_page(spec, {"numItems": 1, "cursor": start_cursor,
                                           "endCursor": result["continueCursor"]})
            want = [row for row in rows
                    if (previous_end is None or spec.before(previous_end, spec.sort_key(row)))
                    and (end is None or not spec.before(end, spec.sort_key(row)))]
            assert_docs(pinned["page"], want)
            assert pinned["continueCursor"] == result["continueCursor"]
            assert pinned["isDone"] == result["isDone"]
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
            # In creation order: ids are random, so sorting by id would make draws flaky.
            by_age = sorted(docs, key=lambda doc_id: docs[doc_id]["_creationTime"])
            for doc_id in data.draw(st.lists(st.sampled_from(by_age), max_size=3,
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


# MODEL_EXAMPLES=600 runs a deeper search (about two minutes).
DatabaseModel.TestCase.settings = settings(
    max_examples=int(os.environ.get("MODEL_EXAMPLES", "50")), stateful_step_count=50,
    deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestDatabaseModel = DatabaseModel.TestCase


def test_database_model_on_postgres(postgres_database: str) -> None:
    """The same model on PostgreSQL (fewer examples: each opens a store of its own)."""

    class OnPostgres(DatabaseModel):
        def __init__(self) -> None:
            self.url = f"{postgres_database}?schema=m_{uuid.uuid4().hex[:16]}"
            super().__init__()

        def storage(self) -> Storage:
            return PostgresStorage(self.url, durability="normal")

    run_state_machine_as_test(OnPostgres, settings=settings(
        max_examples=int(os.environ.get("MODEL_EXAMPLES_PG", "8")), stateful_step_count=50,
        deadline=None, suppress_health_check=[HealthCheck.too_slow]))


async def test_scans_longer_than_one_storage_batch(tmp_path: Path, db_url: str | None) -> None:
    """Hundreds of documents: filters and collect() cross many storage round trips."""
    rng = random.Random(11)
    db = await Database.open(make_storage(tmp_path, db_url, "normal"), SCHEMA)
    try:
        txn = db.begin()
        for _ in range(400):
            doc = {name: rng.choice(pool) for name, pool in POOLS.items() if rng.random() < 0.8}
            await txn.insert("items", doc)
        await db.commit(txn)
        txn.close()
        reader = db.begin(read_only=True)
        docs = {doc["_id"]: doc for doc in await db.query(reader, "items").collect()}
        reader.close()
        assert len(docs) == 400
        for _ in range(150 if db_url is None else 40):  # PostgreSQL: round trips cost more
            reader = db.begin(read_only=True)
            spec = random_spec(rng)
            rows = spec.oracle(docs)
            n = rng.choice([0, 1, 5, 130, 500])
            assert_docs(await spec.build(db, reader).take(n), rows[:n])
            assert_docs(await spec.build(db, reader).collect(), rows)
            cursor, walked = None, []
            while True:
                page = await spec.build(db, reader).paginate({"numItems": 150, "cursor": cursor})
                walked += page["page"]
                cursor = page["continueCursor"]
                if page["isDone"]:
                    break
            assert_docs(walked, rows)
            reader.close()
    finally:
        await db.close()
