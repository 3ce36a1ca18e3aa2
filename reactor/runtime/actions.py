"""Actions: functions that may do I/O, calling queries, mutations and other actions."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from reactor.errors import InvalidValueError, LimitExceededError
from reactor.runtime import logs
from reactor.runtime.context import Auth, FunctionRef, function_path, wall_clock_ms
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.outcome import Outcome

Call = Callable[[FunctionKind, str, Any], Awaitable[Outcome]]
Schedule = Callable[[str, dict[str, Any], float], Awaitable[str]]
Cancel = Callable[[str], Awaitable[None]]

DEFAULT_ACTION_TIMEOUT_S = 600.0


class ActionScheduler:
    """`ctx.scheduler` in an action: each call commits its own small transaction."""

    def __init__(self, schedule: Schedule, cancel: Cancel) -> None:
        self._schedule = schedule
        self._cancel = cancel

    async def run_after(self, seconds: float, fn: FunctionRef,
                        args: dict[str, Any] | None = None) -> str:
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise InvalidValueError(f"run_after: delay must be a non-negative number of seconds,"
                                    f" got {seconds!r}")
        return await self._schedule(function_path(fn), dict(args or {}),
                                    wall_clock_ms() + seconds * 1000)

    async def run_at(self, timestamp_ms: float, fn: FunctionRef,
                     args: dict[str, Any] | None = None) -> str:
        if not isinstance(timestamp_ms, int | float) or isinstance(timestamp_ms, bool):
            raise InvalidValueError(f"run_at: expected a time in ms since the epoch,"
                                    f" got {timestamp_ms!r}")
        return await self._schedule(function_path(fn), dict(args or {}), float(timestamp_ms))

    async def cancel(self, job_id: str) -> None:
        await self._cancel(job_id)


class ActionCtx:
    """What an action handler receives. Nothing here is transactional."""

    def __init__(self, call: Call, auth: Auth, scheduler: ActionScheduler,
                 env: Any = None) -> None:
        self._call = call
        self.auth = auth
        self.scheduler = scheduler
        self.env = env

    async def _run(self, kind: FunctionKind, fn: FunctionRef, args: dict[str, Any] | None
                   ) -> Any:
        outcome = await self._call(kind, function_path(fn), args or {})
        sink = logs.current_sink()
        if sink is not None:
            for line in outcome.log_lines:
                sink.lines.append(line)
        return outcome.unwrap()

    async def run_query(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        return await self._run(FunctionKind.QUERY, fn, args)

    async def run_mutation(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        return await self._run(FunctionKind.MUTATION, fn, args)

    async def run_action(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        return await self._run(FunctionKind.ACTION, fn, args)

    def now(self) -> float:
        return wall_clock_ms()

    def random(self) -> float:
        return random.random()


async def run_action_handler(fn: FunctionDefinition, ctx: ActionCtx, args: dict[str, Any],
                             timeout_s: float) -> Any:
    """Run the handler under the action timeout."""
    try:
        return await asyncio.wait_for(fn.handler(ctx, **args), timeout_s)
    except TimeoutError:
        raise LimitExceededError(f"action ran longer than its {timeout_s:g} s timeout",
                                 code="ActionTimeout") from None
