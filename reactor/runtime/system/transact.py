"""Small transactions on system tables, made by the runtime itself and retried on conflict."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from reactor.errors import ConflictError
from reactor.transactions import Database, Transaction

T = TypeVar("T")

MAX_ATTEMPTS = 12


async def transact(database: Database, body: Callable[[Transaction], Awaitable[T]]) -> T:
    """Run `body` in a fresh transaction and commit; re-run it if the commit conflicts."""
    attempt = 0
    while True:
        attempt += 1
        txn = database.begin()
        try:
            result = await body(txn)
            await database.commit(txn)
            return result
        except ConflictError:
            if attempt >= MAX_ATTEMPTS:
                raise
        finally:
            txn.close()
        await asyncio.sleep(random.uniform(0, min(0.1, 0.002 * 2 ** attempt)))


async def read(database: Database, body: Callable[[Transaction], Awaitable[T]]) -> T:
    """Run `body` in a read-only transaction at the latest snapshot."""
    txn = database.begin(read_only=True)
    try:
        return await body(txn)
    finally:
        txn.close()
