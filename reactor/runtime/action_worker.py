"""An action worker process: runs actions sent by the server (`main()`, started by
`action_workers.py`), one at a time.

The action gets an ordinary `ActionCtx` whose parts that need the server
(other functions, the scheduler, the environment, file storage, rate limits,
vector search, token verification) send a `CtxRequest` and wait for the
server's `CtxReply` (action_wire.py). `ctx.now()` is this machine's clock,
counted from the call's start time the server sent; tokens are issued here with
the deployment's own key. The action's code runs under the same step cap and
timeout as on the server's loop (preempt.py), so a spinning action is stopped
with the same error; C code that ignores signals is ended by the server
killing this process at the action's timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import IO, Any

from reactor.errors import InvalidValueError
from reactor.runtime import client_errors, logs, preempt
from reactor.runtime.action_wire import (
    ActionCall,
    ActionDone,
    CtxReply,
    CtxRequest,
    error_fields,
    function_error,
)
from reactor.runtime.actions import ACTION_STEP_LIMIT_S, ActionCtx, ActionScheduler, budget_error
from reactor.runtime.auth import BuiltinIssuer
from reactor.runtime.context import Auth, FunctionRef, check_delay, check_timestamp, function_path
from reactor.runtime.files import ActionStorage
from reactor.runtime.files.access import ExpiresIn
from reactor.runtime.functions import FunctionKind
from reactor.runtime.loader import App
from reactor.runtime.outcome import Outcome
from reactor.runtime.runner import to_function_error
from reactor.runtime.scope import APP_SCOPE, Scope
from reactor.runtime.system.environment import EnvReader
from reactor.runtime.system.rate_limits import ActionRateLimits, RateLimitStatus
from reactor.runtime.timeunits import Duration, Instant
from reactor.runtime.worker import WorkerSettings, load_worker_app
from reactor.runtime.worker_process import READY, read_frame, run_worker, write_frame

Identity = dict[str, Any] | None


class Channel:
    """The worker's end of the pipe: numbered requests, answered in any order."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._next = 0
        self._waiting: dict[int, asyncio.Future[CtxReply]] = {}

    async def request(self, target: str, method: str, *args: Any, **kwargs: Any) -> CtxReply:
        self._next += 1
        future: asyncio.Future[CtxReply] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        write_frame(self._out, CtxRequest(self._next, target, method, args, kwargs))
        return await future

    async def call(self, target: str, method: str, *args: Any, **kwargs: Any) -> Any:
        reply = await self.request(target, method, *args, **kwargs)
        if reply.error is not None:
            raise function_error(reply.error)
        return reply.value

    def answer(self, reply: CtxReply) -> None:
        future = self._waiting.pop(reply.number, None)
        if future is not None and not future.done():
            future.set_result(reply)


class _RemoteScheduler(ActionScheduler):
    def __init__(self, channel: Channel) -> None:  # the server holds the real scheduler
        self._channel = channel

    async def run_after(self, delay: Duration, fn: FunctionRef,
                        args: dict[str, Any] | None = None) -> str:
        return await self._channel.call(  # type: ignore[no-any-return]
            "scheduler", "run_after", check_delay(delay), function_path(fn), args)

    async def run_at(self, when: Instant, fn: FunctionRef,
                     args: dict[str, Any] | None = None) -> str:
        return await self._channel.call(  # type: ignore[no-any-return]
            "scheduler", "run_at", check_timestamp(when), function_path(fn), args)

    async def cancel(self, job_id: str) -> None:
        await self._channel.call("scheduler", "cancel", job_id)


class _RemoteStorage(ActionStorage):
    """`ctx.storage`; a stream stored from here is gathered in memory first."""

    def __init__(self, channel: Channel) -> None:  # the server holds the real storage
        self._channel = channel

    async def generate_upload_url(self) -> str:
        return await self._channel.call("storage", "generate_upload_url")  # type: ignore[no-any-return]

    async def get_url(self, storage_id: str, expires_in: ExpiresIn = None) -> str | None:
        return await self._channel.call("storage", "get_url", storage_id, expires_in)  # type: ignore[no-any-return]

    async def get_metadata(self, storage_id: str) -> dict[str, Any] | None:
        return await self._channel.call("storage", "get_metadata", storage_id)  # type: ignore[no-any-return]

    async def store(self, data: bytes | AsyncIterable[bytes],
                    content_type: str | None = None) -> str:
        if isinstance(data, AsyncIterable):
            data = b"".join([bytes(chunk) async for chunk in data])
        return await self._channel.call("storage", "store", data, content_type)  # type: ignore[no-any-return]

    async def get(self, storage_id: str) -> bytes | None:
        return await self._channel.call("storage", "get", storage_id)  # type: ignore[no-any-return]

    async def stream(self, storage_id: str) -> AsyncIterator[bytes] | None:
        data = await self.get(storage_id)
        return None if data is None else _one_chunk(data)

    async def delete(self, storage_id: str) -> None:
        await self._channel.call("storage", "delete", storage_id)


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


class _RemoteRateLimits(ActionRateLimits):
    def __init__(self, channel: Channel) -> None:  # the server holds the real limits
        self._channel = channel

    async def rate_limit(self, name: object, key: object, rate: object, period: object,
                         capacity: object, count: object, raises: bool) -> RateLimitStatus:
        return await self._channel.call(  # type: ignore[no-any-return]
            "rate_limits", "rate_limit", name, key, rate, period, capacity, count, raises)

    async def reset(self, name: object, key: object) -> None:
        await self._channel.call("rate_limits", "reset", name, key)


class _RemoteAuth(Auth):
    def __init__(self, identity: Identity, issuer: BuiltinIssuer, channel: Channel) -> None:
        super().__init__(identity, issuer, can_issue=True)
        self._channel = channel

    async def verify_token(self, token: str) -> dict[str, Any]:
        return await self._channel.call("auth", "verify_token", token)  # type: ignore[no-any-return]


class _Alternatives:
    """What a vector-search filter built here: the (field, value) pairs it accepts."""

    def __init__(self, pairs: tuple[tuple[str, Any], ...]) -> None:
        self.pairs = pairs

    def __or__(self, other: _Alternatives) -> _Alternatives:
        return _Alternatives(self.pairs + other.pairs)


class _FilterRecorder:
    """`q` of a vector-search filter run in the worker; the server checks the pairs."""

    def eq(self, field: str, value: Any) -> _Alternatives:
        return _Alternatives(((field, value),))

    def or_(self, *alternatives: _Alternatives) -> _Alternatives:
        return _Alternatives(tuple(pair for item in alternatives for pair in item.pairs))


class RemoteActionCtx(ActionCtx):
    """`ActionCtx` in a worker: the parts that need the server go through `channel`."""

    def __init__(self, channel: Channel, identity: Identity, issuer: BuiltinIssuer,
                 now: Callable[[], float], scope: Scope = APP_SCOPE) -> None:
        async def call(kind: FunctionKind, path: str, args: Any) -> Outcome:
            reply = await channel.request("call", kind.value, path, args)
            error = None if reply.error is None else function_error(reply.error)
            return Outcome(path, value=reply.value, error=error, log_lines=reply.log_lines)

        async def env(name: str) -> str | None:
            return await channel.call("env", "get", name)  # type: ignore[no-any-return]

        super().__init__(call, _RemoteAuth(identity, issuer, channel),
                         _RemoteScheduler(channel), EnvReader(env), now,
                         _RemoteRateLimits(channel), _RemoteStorage(channel), scope=scope)
        self._channel = channel

    async def vector_search(self, table: str, index: str, *, vector: list[float],
                            limit: int = 10, filter: Callable[[Any], Any] | None = None
                            ) -> list[dict[str, Any]]:
        pairs = None
        if filter is not None:
            built = filter(_FilterRecorder())
            if not isinstance(built, _Alternatives):
                raise InvalidValueError(f"vector_search({table}.{index}): filter must return"
                                        " q.eq(...), optionally combined with | or q.or_(...)")
            pairs = built.pairs
        return await self._channel.call(  # type: ignore[no-any-return]
            "vector_search", "run", table, index, vector, limit, pairs)


async def run_action(call: ActionCall, app: App, issuer: BuiltinIssuer,
                     channel: Channel) -> ActionDone:
    """Run one action; its own failures travel in the result."""
    fn = app.functions[call.path]
    started = time.time() * 1000

    def now() -> float:
        return call.now_ms + (time.time() * 1000 - started)

    done = ActionDone()
    budget = preempt.Budget(deadline=time.perf_counter() + call.timeout_s,
                            step_cap_s=ACTION_STEP_LIMIT_S)
    with logs.capture() as sink, client_errors.request_scope(call.request_id):
        try:
            ctx = RemoteActionCtx(channel, call.identity, issuer, now, fn.scope)
            try:
                done.value = await preempt.drive(fn.handler(ctx, **call.args), budget)
            except preempt.Preempted:
                raise budget_error(budget, call.timeout_s) from None
        except Exception as error:
            done.error = error_fields(to_function_error(fn.path, error))
    done.log_lines = sink.lines
    done.longest_step_s = budget.longest_step_s
    return done


async def serve(settings: WorkerSettings, source: IO[bytes], out: IO[bytes]) -> None:
    app, issuer = load_worker_app(settings)
    channel = Channel(out)
    loop = asyncio.get_running_loop()
    frames: asyncio.Queue[Any] = asyncio.Queue()

    def reader() -> None:
        while True:
            frame = read_frame(source)
            loop.call_soon_threadsafe(frames.put_nowait, frame)
            if frame is None:
                return

    loop.run_in_executor(None, reader)
    write_frame(out, READY)
    running: asyncio.Task[None] | None = None

    async def run(call: ActionCall) -> None:
        write_frame(out, await run_action(call, app, issuer, channel))

    while True:
        frame = await frames.get()
        if frame is None:
            break
        if isinstance(frame, CtxReply):
            channel.answer(frame)
        elif isinstance(frame, ActionCall):
            running = asyncio.ensure_future(run(frame))
    if running is not None:
        running.cancel()


def main() -> None:
    run_worker(WorkerSettings, serve)
