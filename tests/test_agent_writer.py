"""StreamWriter against a scripted context: how its checks and writes interleave."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from reactor.agent.writer import StreamSettings, StreamWriter


class FinalWriteHeld:
    """A context whose final write commits (the thread is handed back) and then waits for
    `release` before answering: the gap in which the writer's ticker may check in."""

    def __init__(self) -> None:
        self.committed = asyncio.Event()
        self.release = asyncio.Event()
        self.queries = 0

    def now(self) -> float:
        return time.time() * 1000

    async def run_mutation(self, path: str, args: dict[str, Any]) -> Any:
        if path == "agent:beginStep":
            return {"messageId": "m1", "attempt": 1, "stop": False, "stale": False}
        assert path == "agent:finishStep", path
        self.committed.set()
        await self.release.wait()
        return {"stale": False, "applied": True}

    async def run_query(self, path: str, args: dict[str, Any]) -> Any:
        assert path == "agent:runState", path
        self.queries += 1
        # Once the final write committed, the thread no longer names this run.
        return {"stale": self.committed.is_set(), "stop": False,
                "leaseUntil": self.now() + 30_000}


async def test_a_check_overlapping_the_final_write_does_not_end_a_completed_run() -> None:
    ctx = FinalWriteHeld()
    writer = StreamWriter(ctx, lambda name: f"agent:{name}", "thread1", "run1",
                          StreamSettings())
    await writer.begin_step(1, 1, "model")
    finishing = asyncio.ensure_future(writer.finish_step(
        status="success", finish_reason="stop", tool_calls=[], usage=None,
        thread_status="completed"))
    await ctx.committed.wait()
    checking = asyncio.ensure_future(writer.check())
    await asyncio.sleep(0.05)
    # The ticker cancels the run as soon as `ending` shows; the run's own end must not.
    assert not writer.ending
    ctx.release.set()
    await finishing
    await checking
    assert writer.finished and not writer.ending
    assert ctx.queries == 0, "a check after the run finished has nothing to learn"
