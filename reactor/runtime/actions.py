"""Actions: functions that may do I/O, calling queries, mutations and other actions."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from reactor.errors import InvalidValueError, LimitExceededError, ReactorError
from reactor.runtime import client_errors, logs
from reactor.runtime.action_wire import ActionCall, function_error
from reactor.runtime.action_workers import ACTION_SLICE_S, ActionWorkerPool, CtxServer
from reactor.runtime.auth import BuiltinIssuer, TokenVerifier
from reactor.runtime.context import (
    Auth,
    FunctionRef,
    check_delay,
    check_job_args,
    check_timestamp,
    function_path,
    schedulable_path,
)
from reactor.runtime.files import ActionStorage, FileService
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.http_actions import HttpRequest, HttpResponse, HttpRoute
from reactor.runtime.outcome import FunctionError, Outcome
from reactor.runtime.preempt import Budget, Preempted, drive
from reactor.runtime.runner import check_returns, prepare_args, to_function_error
from reactor.runtime.scope import APP_SCOPE, Scope
from reactor.runtime.system.environment import EnvReader
from reactor.runtime.system.rate_limits import ActionRateLimits, RateLimitStatus
from reactor.runtime.system.scheduled_functions import (
    JobQuota,
    ScheduledFunctions,
    job_owner,
)
from reactor.runtime.system.transact import transact
from reactor.runtime.timeunits import Duration, Instant
from reactor.transactions import Database, run_vector_search
from reactor.values import canonicalize, to_wire

T = TypeVar("T")
Identity = dict[str, Any] | None
# (kind, path, args, identity) -> outcome: how an action reaches other functions.
Call = Callable[[FunctionKind, str, Any, Identity], Awaitable[Outcome]]

DEFAULT_ACTION_TIMEOUT_S = 600.0
# Actions that may wait for a free slot; past it a new one fails with Overloaded.
DEFAULT_MAX_QUEUED_ACTIONS = 1_024
# How long an action's code may run without awaiting: longer would stall every client.
ACTION_STEP_LIMIT_S = 1.0


class ActionScheduler:
    """`ctx.scheduler` in an action: each call commits its own small transaction."""

    def __init__(self, database: Database, resolve: Callable[[str], FunctionDefinition],
                 now: Callable[[], float], identity: Identity = None,
                 scope: Scope = APP_SCOPE) -> None:
        self._database = database
        self._resolve = resolve
        self._scope = scope
        self._now = now
        self._quota = JobQuota(job_owner(identity))

    async def run_after(self, delay: Duration, fn: FunctionRef,
                        args: dict[str, Any] | None = None) -> str:
        """Run `fn(args)` after `delay` (seconds or a `timedelta`); returns the job id."""
        return await self.run_at(self._now() + check_delay(delay) * 1000, fn, args)

    async def run_at(self, when: Instant, fn: FunctionRef,
                     args: dict[str, Any] | None = None) -> str:
        """Run `fn(args)` at `when` (an aware `datetime`, or ms since the epoch as
        `ctx.now()` gives); returns the job id."""
        at_ms = check_timestamp(when)
        path = schedulable_path(fn, self._resolve, self._scope)
        job_args = check_job_args(args)
        self._quota.take()
        owner = JobQuota(self._quota.owner)  # this job only: the call's count is above
        return await transact(self._database, lambda txn: ScheduledFunctions(txn).schedule(
            path, job_args, at_ms, owner))

    async def cancel(self, job_id: str) -> None:
        """Cancel a pending job (one that started already is left to finish)."""
        now = self._now()
        await transact(self._database, lambda txn: ScheduledFunctions(txn).cancel(job_id, now))


class ActionCtx:
    """What an action handler receives. Nothing here is transactional."""

    def __init__(self, call: Callable[[FunctionKind, str, Any], Awaitable[Outcome]],
                 auth: Auth, scheduler: ActionScheduler, env: EnvReader,
                 now: Callable[[], float], rate_limits: ActionRateLimits,
                 storage: ActionStorage | None = None, database: Database | None = None,
                 *, scope: Scope = APP_SCOPE) -> None:
        self._call = call
        # Whose action this is: the app's or an installed component's (scope.py).
        self.scope = scope
        self._database = database
        self.auth = auth
        self.scheduler = scheduler
        self.env = env
        self._now = now
        self._rate_limits = rate_limits
        self._storage = storage

    @property
    def storage(self) -> ActionStorage:
        """`ctx.storage`: store, read, delete files and make their URLs."""
        if self._storage is None:
            raise InvalidValueError("file storage is not configured for this engine")
        return self._storage

    async def vector_search(self, table: str, index: str, *, vector: list[float],
                            limit: int = 10, filter: Callable[[Any], Any] | None = None
                            ) -> list[dict[str, Any]]:
        """`[{"_id", "_score"}]` nearest to `vector` (cosine), read at the latest commit;
        load the documents with ctx.run_query."""
        if self._database is None:
            raise InvalidValueError("vector_search: this action has no database")
        if isinstance(table, str) and table.startswith("_"):
            raise InvalidValueError(f'vector_search: "{table}" is a system table')
        stored = self.scope.table(table, "ctx.vector_search")
        txn = self._database.begin(read_only=True)
        try:
            return await run_vector_search(txn, stored, index, vector=vector, limit=limit,
                                           filter=filter)
        finally:
            txn.close()

    @property
    def db(self) -> NoReturn:
        """Actions have no database of their own: this only explains what to do instead."""
        raise ReactorError("ctx.db is not available in an action: actions run outside"
                           " transactions; read with ctx.run_query(...) and write with"
                           " ctx.run_mutation(...)", code="NotAllowed")

    async def _run(self, kind: FunctionKind, fn: FunctionRef, args: dict[str, Any] | None
                   ) -> Any:
        """Call another function; its log lines join ours, its error is raised here."""
        path = self.scope.callee(function_path(fn))
        outcome = await self._call(kind, path, args or {})
        sink = logs.current_sink()
        if sink is not None:
            sink.lines.extend(outcome.log_lines)
        return outcome.unwrap()

    async def run_query(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        """Run a query at the latest snapshot."""
        return await self._run(FunctionKind.QUERY, fn, args)

    async def run_mutation(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation (its own transaction); its writes are visible once this returns."""
        return await self._run(FunctionKind.MUTATION, fn, args)

    async def run_action(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        """Run another action in this one's concurrency slot; its result or its error."""
        return await self._run(FunctionKind.ACTION, fn, args)

    def now(self) -> float:
        """Milliseconds since the epoch, read afresh on each call."""
        return self._now()

    def random(self) -> float:
        """A float in [0, 1): actions need not be deterministic, so this is unseeded."""
        return random.random()

    async def rate_limit(self, name: str, *, key: str | None = None, rate: float,
                         period: timedelta | float, capacity: float | None = None,
                         count: float = 1, raises: bool = True) -> RateLimitStatus:
        """See `QueryCtx.rate_limit`: in an action the tokens are taken (committed) at once."""
        return await self._rate_limits.rate_limit(name, key, rate, period, capacity, count,
                                                  raises)

    async def reset_rate_limit(self, name: str, *, key: str | None = None) -> None:
        """Refill the bucket `(name, key)` (committed at once)."""
        await self._rate_limits.reset(name, key)


class ActionRunner:
    """Runs action handlers under a concurrency limit and a timeout, capturing their logs.

    A nested action (called by `ctx.run_action`) runs inside its caller's slot,
    so actions calling actions cannot deadlock on the limit.
    """

    def __init__(self, call: Call, database: Database,
                 resolve: Callable[[str], FunctionDefinition], issuer: BuiltinIssuer | None,
                 env: EnvReader, now: Callable[[], float], *,
                 timeout_s: float = DEFAULT_ACTION_TIMEOUT_S, max_concurrent: int = 64,
                 max_queued: int = DEFAULT_MAX_QUEUED_ACTIONS,
                 verifier: Callable[[], TokenVerifier] | None = None) -> None:
        self._call = call
        self._database = database
        self._resolve = resolve
        self._issuer = issuer
        self._env = env
        self._now = now
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_concurrent)
        self._capacity = max_concurrent
        self.max_queued = max_queued
        self._waiting = 0
        # Each running action's own task, so that a shutdown can stop them all.
        self._running: set[asyncio.Task[Any]] = set()
        self.stopping = False
        # ctx.storage's file service (set by the engine once it has one).
        self.files: FileService | None = None
        # Worker processes for actions that held the loop (set by the engine when it has one).
        self.pool: ActionWorkerPool | None = None
        self._verifier = verifier

    @property
    def running(self) -> int:
        """Actions running now (nested ones included)."""
        return len(self._running)

    @property
    def waiting(self) -> int:
        """Actions waiting for one of the `max_concurrent` slots."""
        return self._waiting

    def _caller(self, identity: Identity) -> Callable[[FunctionKind, str, Any],
                                                      Awaitable[Outcome]]:
        async def call(kind: FunctionKind, path: str, args: Any) -> Outcome:
            return await self._call(kind, path, args, identity)

        return call

    def context(self, identity: Identity, refusal: ReactorError | None = None,
                scope: Scope = APP_SCOPE) -> ActionCtx:
        call = self._caller(identity)
        storage = None if self.files is None else ActionStorage(self.files, identity, self._now)
        auth = Auth(identity, self._issuer, can_issue=True, verifier=self._verifier,
                    refusal=refusal)
        return ActionCtx(call, auth,
                         ActionScheduler(self._database, self._resolve, self._now, identity,
                                         scope),
                         self._env, self._now, ActionRateLimits(self._database, self._now),
                         storage, self._database, scope=scope)

    async def _limited(self, work: Coroutine[Any, Any, T], nested: bool,
                       path: str | None = None) -> T:
        """`work` under the timeout, holding a concurrency slot unless nested. With every
        slot taken and `max_queued` actions already waiting, it fails at once with
        `Overloaded` (the caller may retry later) instead of queueing without end."""
        if nested:
            return await self._timed(work, path)
        if self._slots.locked() and self._waiting >= self.max_queued:
            work.close()
            raise ReactorError(f"Overloaded: the server is running its {self._capacity}"
                               f" actions at once and {self._waiting} more wait for a slot;"
                               " retry later", code="Overloaded")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            return await self._timed(work, path)
        finally:
            self._slots.release()

    async def _timed(self, work: Coroutine[Any, Any, T], path: str | None = None) -> T:
        """The timeout holds while the action awaits (wait_for) and while its own code
        runs (preempt.py), which also stops one step running past ACTION_STEP_LIMIT_S.
        An action at `path` that ran one step past ACTION_SLICE_S runs its next calls in
        a worker process (action_workers.py)."""
        budget = Budget(deadline=time.perf_counter() + self.timeout_s,
                        step_cap_s=ACTION_STEP_LIMIT_S)

        async def driven() -> T:
            return await drive(work, budget)  # type: ignore[no-any-return]

        if self.stopping:
            work.close()
            raise _shutting_down()
        inner = asyncio.ensure_future(driven())
        self._running.add(inner)
        try:
            return await asyncio.wait_for(inner, self.timeout_s)
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if self.stopping and inner.cancelled() and (caller is None
                                                        or caller.cancelling() == 0):
                raise _shutting_down() from None
            raise
        except (TimeoutError, Preempted):
            raise budget_error(budget, self.timeout_s) from None
        finally:
            self._running.discard(inner)
            if path is not None and self.pool is not None \
                    and budget.longest_step_s > ACTION_SLICE_S:
                self.pool.escalated(path)

    def shut_down(self) -> int:
        """Stop every running action (each fails with `ShuttingDown`, which its caller
        is answered and a scheduled job recorded with) and refuse new ones; how many."""
        self.stopping = True
        running = list(self._running)
        for task in running:
            task.cancel()
        return len(running)

    async def run(self, fn: FunctionDefinition, args: Any, identity: Identity, *,
                  nested: bool = False) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome(fn.path)
        with logs.capture() as sink:
            try:
                checked = prepare_args(fn, args)
                if self.pool is not None and not nested and self.pool.isolated(fn.path):
                    value = await self._limited(self._in_worker(fn, checked, identity), nested)
                else:
                    value = await self._limited(
                        fn.handler(self.context(identity, scope=fn.scope), **checked),
                        nested, fn.path)
                outcome.value = check_returns(fn, value)
            except Exception as error:
                outcome.error = to_function_error(fn.path, error)
        outcome.log_lines = sink.lines
        outcome.duration_s = time.perf_counter() - started
        return outcome

    async def _in_worker(self, fn: FunctionDefinition, checked: dict[str, Any],
                         identity: Identity) -> Any:
        """Run the action in a worker process; its ctx calls are answered here."""
        assert self.pool is not None
        ctx = self.context(identity, scope=fn.scope)
        rate_limits = ActionRateLimits(self._database, self._now)
        server = CtxServer(self._caller(identity),
                           {"scheduler": lambda: ctx.scheduler, "storage": lambda: ctx.storage,
                            "rate_limits": lambda: rate_limits, "auth": lambda: ctx.auth,
                            "env": lambda: ctx.env},
                           ctx.vector_search)
        done = await self.pool.run(ActionCall(fn.path, checked, identity, self._now(),
                                              self.timeout_s,
                                              client_errors.current_request_id()), server)
        sink = logs.current_sink()
        if sink is not None:
            sink.lines.extend(done.log_lines)
        if done.error is not None:
            raise function_error(done.error)
        return done.value

    async def run_http(self, route: HttpRoute, request: HttpRequest, identity: Identity,
                       refusal: ReactorError | None = None) -> tuple[HttpResponse, Outcome]:
        """Run an HTTP action's handler; an exception becomes a 500 response. `refusal`:
        the request's Authorization header gave no identity (reading it raises this)."""
        started = time.perf_counter()
        label = f"{request.method} {request.path}"
        outcome = Outcome(label)
        with logs.capture() as sink:
            try:
                response = await self._limited(
                    route.handler(self.context(identity, refusal), request), nested=False)
                if not isinstance(response, HttpResponse):
                    raise InvalidValueError(f"HTTP action {label}: expected an HttpResponse,"
                                            f" got {type(response).__name__}")
            except Exception as error:
                outcome.error = to_function_error(label, error)
                response = _error_response(outcome.error)
        outcome.log_lines = sink.lines
        outcome.duration_s = time.perf_counter() - started
        return response, outcome


def budget_error(budget: Budget, timeout_s: float) -> LimitExceededError:
    """Why an action was stopped: one step too long, or past its timeout."""
    if budget.reason == "step":
        return LimitExceededError(
            f"action ran its own code for {budget.longest_step_s:.2f} s without"
            f" awaiting; the limit is {ACTION_STEP_LIMIT_S:g} s per step (the server"
            " serves every other client on the same thread: split the work, or"
            " await between parts)", code="UserTimeExceeded")
    return LimitExceededError(f"action ran longer than its {timeout_s:g} s timeout",
                              code="ActionTimeout")


def _shutting_down() -> ReactorError:
    return ReactorError("the server is shutting down: the action was stopped before it"
                        " finished (it may have done part of its work)", code="ShuttingDown")


def _error_response(error: FunctionError) -> HttpResponse:
    """A failed HTTP action: 500 with `{code, message, trace}`, where `code` is the
    uncaught error's text; an `AppError` is a 400 that also carries its `data`."""
    body: dict[str, Any] = {"code": error.summary.split("\n", 1)[0], "message": error.message,
                            "trace": error.trace}
    if not error.is_app_error:
        return HttpResponse.json(body, 500)
    try:
        body["data"] = to_wire(canonicalize(error.data, "data"))
    except ReactorError:
        body["data"] = str(error.data)
    return HttpResponse.json(body, 400)
