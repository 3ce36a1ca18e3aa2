"""`first_of_each`: several point reads of one transaction answered in one storage call,
each as `first()` alone would answer it: own writes seen, and each range in the read set
(so two uploads racing on a token or on new contents conflict)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reactor.errors import ConflictError
from reactor.runtime import Engine
from reactor.runtime.system.inline_blobs import InlineBlobs
from reactor.runtime.system.transact import transact
from reactor.runtime.system.upload_tokens import UsedUploadTokens
from reactor.transactions import QueryError, Transaction, first_of_each

APP = Path(__file__).parent / "apps" / "files"


@pytest.fixture
async def engine(tmp_path: Path, db_url: str | None) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as running:
        yield running


async def test_each_query_gets_its_first_document_own_writes_included(engine: Engine) -> None:
    async def setup(txn: Transaction) -> None:
        await UsedUploadTokens(txn).mark_used("n1", 1e15)
        await InlineBlobs(txn).insert("ab" * 32, b"kept")

    await transact(engine.database, setup)
    txn = engine.database.begin()
    try:
        tokens, blobs = UsedUploadTokens(txn), InlineBlobs(txn)
        await tokens.mark_used("n2", 1e15)  # not committed: seen by this transaction only
        found = await first_of_each([tokens.query("n1"), blobs.query("ab" * 32),
                                     tokens.query("n2"), blobs.query("cd" * 32),
                                     tokens.query("n3")])
        assert [doc and doc.get("nonce", doc.get("data")) for doc in found] == [
            "n1", b"kept", "n2", None, None]
        assert await first_of_each([]) == []
        with pytest.raises(QueryError):
            await first_of_each([tokens.query("n1").order("desc")])
        with pytest.raises(QueryError):
            await first_of_each([tokens.query("n1").filter(lambda doc: True)])
    finally:
        txn.close()


@pytest.mark.parametrize("written_by_first", ["token", "contents"])
async def test_a_commit_into_any_of_the_ranges_read_conflicts(engine: Engine,
                                                              written_by_first: str) -> None:
    """Two transactions read a token's record and a contents' row as absent in one call;
    the first commits one of the two: the second conflicts whichever it was."""
    database = engine.database
    first, second = database.begin(), database.begin()
    try:
        for txn in (first, second):
            assert await first_of_each([UsedUploadTokens(txn).query("n"),
                                        InlineBlobs(txn).query("ef" * 32)]) == [None, None]
        if written_by_first == "token":
            await UsedUploadTokens(first).mark_used("n", 1e15)
        else:
            await InlineBlobs(first).insert("ef" * 32, b"x")
        await UsedUploadTokens(second).mark_used("other", 1e15)
        await database.commit(first)
        with pytest.raises(ConflictError):
            await database.commit(second)
    finally:
        first.close()
        second.close()
