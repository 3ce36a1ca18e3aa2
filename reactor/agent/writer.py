"""The streaming writer: a run's deltas into its message in throttled, idempotent batches.

Deltas collect in memory and go out as one mutation per batch: when
`interval_s` has passed since the last write, or `max_chars` of text is
waiting, whichever comes first. Each batch carries (message, attempt, chunk);
the mutation applies a chunk only once, so a retried call never duplicates
text. A batch is never lost: the mutation runs in its own task (cancelling the
run does not cancel it, and whoever finishes the step waits for it first), and
a batch whose write failed is sent again, alone, under its own chunk number,
before anything newer. The answer to every
batch says whether the user asked to stop (or the run was superseded), which
is how a stop reaches the run within one interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from reactor.agent.parts import Part, size_of


@dataclass(frozen=True)
class StreamSettings:
    """How a run writes. `interval_s`: the longest a delta waits before it is written
    (and how soon a stop is noticed); `max_chars`: text that triggers a write at once;
    `lease_s`: how long a run may go without a write before the watchdog calls it
    interrupted (it is renewed while the run lives, also while tools run)."""

    interval_s: float = 0.25
    max_chars: int = 2048
    lease_s: float = 30.0

    @property
    def lease_ms(self) -> float:
        return self.lease_s * 1000


class RunSignal(Exception):
    """The run must end now: `stale` (another run owns the thread) or a stop request."""

    def __init__(self, stale: bool) -> None:
        super().__init__("stale" if stale else "stop")
        self.stale = stale


class StreamWriter:
    """Writes one run's steps; `ctx` is the action's context, `path(name)` a function path."""

    def __init__(self, ctx: Any, path: Any, thread_id: str, run_id: str,
                 settings: StreamSettings, *, streaming: bool = True) -> None:
        self.ctx = ctx
        self.path = path
        self.thread_id = thread_id
        self.run_id = run_id
        self.settings = settings
        self.streaming = streaming
        self.message_id: str | None = None
        self.attempt = 0
        self.chunk = 0
        self.pending: list[Part] = []
        self.stop_requested = False
        self.stale = False
        self.batches = 0
        # The run's end is written: nothing may cancel or re-finish it now.
        self.finished = False
        self._lock = asyncio.Lock()
        self._inflight: asyncio.Future[Any] | None = None
        # A batch whose write failed (or whose answer never came): sent again, alone and
        # under the same chunk number, before anything else.
        self._unsent: tuple[int, list[Part]] | None = None
        self._last_write = time.monotonic()

    def _note(self, answer: dict[str, Any]) -> None:
        self._last_write = time.monotonic()
        self.stale = self.stale or bool(answer.get("stale"))
        self.stop_requested = self.stop_requested or bool(answer.get("stop"))

    @property
    def ending(self) -> bool:
        return (self.stale or self.stop_requested) and not self.finished

    async def _call(self, name: str, args: dict[str, Any]) -> Any:
        """A mutation that finishes even if the caller is cancelled meanwhile."""
        future = asyncio.ensure_future(self.ctx.run_mutation(self.path(name), args))
        self._inflight = future
        return await asyncio.shield(future)

    async def _settle(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            # Its outcome does not matter here: the next write is checked on its own.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._inflight), 30)

    async def begin_step(self, order: int, step_order: int, model: str) -> None:
        async with self._lock:
            await self._settle()
            answer = await self._call("beginStep", {
                "threadId": self.thread_id, "runId": self.run_id, "order": order,
                "stepOrder": step_order, "model": model, "leaseMs": self.settings.lease_ms})
            self._note(answer)
            if not answer.get("stale"):
                self.message_id = answer["messageId"]
                self.attempt = answer["attempt"]
                self.chunk = 0
                self.pending = []
                self._unsent = None

    def add(self, part: Part) -> None:
        self.pending.append(part)

    def due(self) -> bool:
        if not self.streaming or not self.pending or self.message_id is None:
            return False
        return (size_of(self.pending) >= self.settings.max_chars
                or time.monotonic() - self._last_write >= self.settings.interval_s)

    async def flush(self) -> None:
        """Write what is pending as the next batch (no-op when nothing is)."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if self.message_id is None:
            return
        if self._unsent is None:
            if not self.pending:
                return
            self.chunk += 1
            self._unsent, self.pending = (self.chunk, self.pending), []
        chunk, batch = self._unsent
        answer = await self._call("appendBatch", {
            "threadId": self.thread_id, "runId": self.run_id, "messageId": self.message_id,
            "attempt": self.attempt, "chunk": chunk, "parts": batch,
            "leaseMs": self.settings.lease_ms})
        self._unsent = None
        self.batches += 1
        self._note(answer)

    async def finish_step(self, *, status: str, finish_reason: str,
                          tool_calls: list[dict[str, Any]], usage: dict[str, Any] | None,
                          error: str | None = None, thread_status: str | None = None,
                          end_reason: str | None = None) -> None:
        """The last batch, the final state, tool calls and maybe the thread's end: one
        transaction."""
        async with self._lock:
            await self._settle()
            if self.message_id is None:
                return
            if self._unsent is not None:
                await self._flush_locked()
            batch, self.pending = self.pending, []
            self.chunk += 1
            args: dict[str, Any] = {
                "threadId": self.thread_id, "runId": self.run_id,
                "messageId": self.message_id, "attempt": self.attempt, "chunk": self.chunk,
                "parts": batch, "status": status, "finishReason": finish_reason,
                "toolCalls": tool_calls}
            for key, value in (("error", error), ("usage", usage),
                               ("threadStatus", thread_status), ("endReason", end_reason)):
                if value is not None:
                    args[key] = value
            answer = await self._call("finishStep", args)
            self._note({"stale": answer.get("stale")})
            self.message_id = None
            if thread_status is not None and not answer.get("stale"):
                self.finished = True

    async def tool_event(self, name: str, args: dict[str, Any]) -> None:
        async with self._lock:
            answer = await self._call(name, {"threadId": self.thread_id, "runId": self.run_id,
                                             "leaseMs": self.settings.lease_ms, **args})
            self._note(answer)

    async def check(self) -> None:
        """While nothing is written: learn of a stop, and keep the lease alive.

        Under the writes' lock: a check that overlapped the run's final write would see
        the thread already handed back (its own end) and take the run for stale before
        `finished` is set, and the ticker would then cancel a run that completed.
        """
        async with self._lock:
            if self.finished:
                return
            state = await self.ctx.run_query(self.path("runState"), {
                "threadId": self.thread_id, "runId": self.run_id})
            self.stale = self.stale or bool(state["stale"])
            self.stop_requested = self.stop_requested or bool(state["stop"])
            remaining_ms = state["leaseUntil"] - self.ctx.now()
            if not self.ending and remaining_ms < self.settings.lease_ms * 2 / 3:
                self._note(await self._call("heartbeat", {
                    "threadId": self.thread_id, "runId": self.run_id,
                    "leaseMs": self.settings.lease_ms}))

    async def tick(self) -> None:
        """One beat of the clock: flush if due, otherwise check in."""
        if self.due():
            await self.flush()
        elif time.monotonic() - self._last_write >= self.settings.interval_s:
            await self.check()
            self._last_write = time.monotonic()
