"""Helpers for tests that drive an in-process `Engine` and its live queries."""

from __future__ import annotations

import asyncio
from typing import Any

from reactor.runtime import Engine


async def settle(engine: Engine) -> None:
    """Wait until the subscription manager has caught up with the latest commit."""
    target = engine.database.latest_ts
    async with asyncio.timeout(10):
        while engine.manager.current_ts < target:
            await asyncio.sleep(0.001)


async def mutate(engine: Engine, path: str, args: dict[str, Any]) -> Any:
    """Run a mutation, then let every subscription advance past it."""
    value = (await engine.run_mutation(path, args)).unwrap()
    await settle(engine)
    return value
