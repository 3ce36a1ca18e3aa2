"""Worker processes for actions whose code holds the event loop too long.

An action cannot be moved mid-run, nor run twice (it may already have written or
called out), so an action is never escalated during a call: its first call that
runs one step past `ACTION_SLICE_S` on the loop finishes there (stopped at the
one-step cap, `ACTION_STEP_LIMIT_S`, if it spins), and its path is remembered for
`ESCALATION_TTL_S`: its next calls run in a worker process, at a lower priority,
where spinning stalls no other client. Nested actions (`ctx.run_action`) stay on
the loop, so a worker never waits for another worker.

The worker asks the server for each `ctx` call that needs it (action_wire.py);
`CtxServer` answers with the call's real `ActionCtx`. At the action's timeout the
worker is killed (its own timer stops interruptible code first, with the same
error as on the loop; C code that ignores signals needs the kill).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from reactor.errors import LimitExceededError, ReactorError
from reactor.runtime.action_wire import (
    ActionCall,
    ActionDone,
    CtxReply,
    CtxRequest,
    error_fields,
)
from reactor.runtime.functions import FunctionKind
from reactor.runtime.outcome import FunctionError, Outcome
from reactor.runtime.runner import to_function_error
from reactor.runtime.worker import WorkerSettings
from reactor.runtime.worker_process import ProcessPool, WorkerProcess

logger = logging.getLogger("reactor.workers")

# One step of an action longer than this on the loop sends its next calls to a worker.
ACTION_SLICE_S = 0.1
ESCALATION_TTL_S = 60.0
ACTION_WORKERS = 2
# Time past the action's timeout for its worker's own timer to answer before the kill.
KILL_GRACE_S = 1.0

# (kind, path, args) -> outcome: how the action's call reaches other functions.
CallOther = Callable[[FunctionKind, str, Any], Awaitable[Outcome]]


class CtxServer:
    """Answers a worker's `ctx` requests for one action with that action's real ctx parts.

    Only the listed methods are reachable: the worker is trusted, but the table
    keeps what crosses the pipe explicit.
    """

    _METHODS: ClassVar[dict[str, frozenset[str]]] = {
        "scheduler": frozenset({"run_after", "run_at", "cancel"}),
        "storage": frozenset({"generate_upload_url", "get_url", "get_metadata", "store", "get",
                              "delete"}),
        "rate_limits": frozenset({"rate_limit", "reset"}),
        "auth": frozenset({"verify_token"}),
        "env": frozenset({"get"}),
    }

    def __init__(self, call: CallOther, targets: dict[str, Callable[[], object]],
                 vector_search: Callable[..., Awaitable[Any]]) -> None:
        self._call = call
        # Each target is fetched when first asked for (ctx.storage raises when unset).
        self._targets = targets
        self._vector_search = vector_search

    async def answer(self, request: CtxRequest) -> CtxReply:
        try:
            if request.target == "call":
                path, args = request.args
                outcome = await self._call(FunctionKind(request.method), path, args)
                error = None if outcome.error is None else error_fields(outcome.error)
                return CtxReply(request.number, outcome.value, error, outcome.log_lines)
            if request.target == "vector_search":
                table, index, vector, limit, pairs = request.args
                chosen = None if pairs is None else (
                    lambda q: q.or_(*[q.eq(field, value) for field, value in pairs]))
                value = await self._vector_search(table, index, vector=vector, limit=limit,
                                                  filter=chosen)
                return CtxReply(request.number, value)
            if request.method not in self._METHODS.get(request.target, frozenset()):
                raise ReactorError(f"ctx.{request.target}.{request.method} is not available"
                                   " to actions in worker processes", code="NotAllowed")
            method = getattr(self._targets[request.target](), request.method)
            return CtxReply(request.number, await method(*request.args, **request.kwargs))
        except Exception as error:
            failure = error if isinstance(error, FunctionError) else to_function_error(
                f"ctx.{request.target}.{request.method}", error)
            return CtxReply(request.number, error=error_fields(failure))


class ActionWorkerPool(ProcessPool):
    """Up to `size` action workers, one action each at a time, started on first use."""

    def __init__(self, settings: WorkerSettings, *, size: int = ACTION_WORKERS) -> None:
        super().__init__("reactor.runtime.action_worker", settings)
        self._slots = asyncio.Semaphore(size)
        self._escalated: dict[str, float] = {}
        self.escalations = 0
        self.calls = 0
        self.kills = 0

    def isolated(self, path: str) -> bool:
        until = self._escalated.get(path)
        if until is not None and until < time.monotonic():
            del self._escalated[path]
            return False
        return until is not None

    def escalated(self, path: str) -> None:
        if not self.isolated(path):
            self.escalations += 1
            logger.warning("action %s held the event loop; its calls run in a worker process"
                           " for the next %g s", path, ESCALATION_TTL_S)
        self._escalated[path] = time.monotonic() + ESCALATION_TTL_S

    async def run(self, call: ActionCall, ctx_server: CtxServer) -> ActionDone:
        """Run `call` in a worker; the worker is killed if it outlives the timeout."""
        async with self._slots:
            worker = await self.take()
            self.calls += 1
            try:
                done = await self._call(worker, call, ctx_server)
            except BaseException:  # timed out, cancelled or gone: the worker goes
                self.kills += 1
                self.discard(worker)
                raise
            self.give_back(worker)
            return done

    async def _call(self, worker: WorkerProcess, call: ActionCall,
                    ctx_server: CtxServer) -> ActionDone:
        worker.send(call)
        deadline = time.monotonic() + call.timeout_s + KILL_GRACE_S
        answers: set[asyncio.Task[None]] = set()

        async def answer(request: CtxRequest) -> None:
            worker.send(await ctx_server.answer(request))

        try:
            while True:
                left = deadline - time.monotonic()
                try:
                    frame = await asyncio.wait_for(worker.receive(), max(left, 0.0))
                except TimeoutError:
                    raise LimitExceededError(
                        f"action ran longer than its {call.timeout_s:g} s timeout (its worker"
                        " process was stopped)", code="ActionTimeout") from None
                if isinstance(frame, ActionDone):
                    return frame
                if isinstance(frame, CtxRequest):
                    task = asyncio.ensure_future(answer(frame))
                    answers.add(task)
                    task.add_done_callback(answers.discard)
        finally:
            for task in answers:
                task.cancel()

    def restart(self) -> None:
        """After a reload: the paths escalated so far start over on the loop."""
        super().restart()
        self._escalated.clear()
