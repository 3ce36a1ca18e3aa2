"""A follower node's commits, in process: two `Database`s on one PostgreSQL database, the
follower forwarding to the committer directly (the HTTP transport is test_forwarding.py's)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from support.model import SCHEMA

from reactor.storage.postgres import PostgresStorage
from reactor.transactions import Database, database


@pytest.fixture
async def nodes(database_url: str) -> AsyncIterator[tuple[Database, Database]]:
    committer = await Database.open(PostgresStorage(database_url, durability="normal"), SCHEMA)
    follower = await Database.follow(PostgresStorage(database_url, durability="normal"), SCHEMA)
    follower.forward = lambda body, ticket: committer.commit_forwarded(body)
    try:
        yield committer, follower
    finally:
        await follower.close()
        await committer.close()


async def insert(db: Database, n: int) -> tuple[str, int]:
    txn = db.begin()
    try:
        doc_id = await txn.insert("items", {"n": n})
        return doc_id, await db.commit(txn)
    finally:
        txn.close()


async def test_a_forwarded_commit_is_answered_when_the_followers_log_stalls(
        nodes: tuple[Database, Database], monkeypatch: pytest.MonkeyPatch) -> None:
    """The follower answers its forwarded commit once its own log shows it; when its log
    reading is stuck, after the bound instead of never. The commit is made all the same,
    and the follower shows it once its log moves again."""
    committer, follower = nodes
    monkeypatch.setattr(database, "FORWARDED_VISIBLE_WAIT_S", 0.5)
    _, ts = await insert(follower, 1)
    assert follower.latest_ts >= ts

    assert follower.follower is not None
    await follower.follower.stop()
    started = time.monotonic()
    doc_id, ts = await asyncio.wait_for(insert(follower, 2), 10)
    assert time.monotonic() - started >= 0.5
    assert follower.latest_ts < ts
    reader = committer.begin(read_only=True)
    try:
        assert (await reader.get(doc_id) or {}).get("n") == 2
    finally:
        reader.close()

    follower.follower.start()
    await asyncio.wait_for(follower.wait_for(ts), 10)
    reader = follower.begin(read_only=True)
    try:
        assert (await reader.get(doc_id) or {}).get("n") == 2
    finally:
        reader.close()
