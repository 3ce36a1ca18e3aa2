"""Running one query or mutation: args, ctx, limits, logs, retries, returns, errors."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from reactor.errors import (
    AppError,
    ConflictError,
    LimitExceededError,
    ReactorError,
    StorageError,
)
from reactor.runtime import client_errors, logs
from reactor.runtime.auth import BuiltinIssuer
from reactor.runtime.context import MutationCtx, QueryCtx, wall_clock_ms
from reactor.runtime.files import FileService
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.outcome import FunctionError, Outcome
from reactor.runtime.preempt import Budget, Preempted, drive
from reactor.runtime.remote import RemoteCall, RemoteResult
from reactor.transactions import CommitTicket, Database, Transaction
from reactor.values import MISSING, canonicalize, dumps

logger = logging.getLogger("reactor.runtime")

# Conflicting mutations are re-run this many times before the caller sees an error.
MAX_ATTEMPTS = 20
SERIALIZE_AFTER = 2
USER_TIME_LIMIT_S = 1.0


class Journal(Protocol):
    """Runs inside a mutation's transaction: `lookup` may answer instead of the handler
    (an outcome already stored, a job already done); `record` writes beside its writes."""

    async def lookup(self, txn: Transaction) -> dict[str, Any] | None: ...

    async def record(self, txn: Transaction, value: Any, now_ms: float) -> None: ...


class ArgsValidationError(ReactorError):
    code = "ArgsValidation"


class ReturnsValidationError(ReactorError):
    code = "ReturnsValidation"


def prepare_args(fn: FunctionDefinition, args: Any) -> dict[str, Any]:
    """Validate and canonicalize call arguments.

    An optional argument the caller left out stays out, so the handler's own
    default applies; a `None` the caller sent is passed as `None`.
    """
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise ArgsValidationError(f"args: expected an object, got {type(args).__name__}")
    if fn.args is None:
        return canonicalize(args, "args")  # type: ignore[return-value]
    try:
        checked: dict[str, Any] = fn.args.validate(args, "args")  # type: ignore[assignment]
    except ReactorError as error:
        raise ArgsValidationError(error.message) from None
    return checked


def check_returns(fn: FunctionDefinition, value: Any) -> Any:
    if inspect.isawaitable(value):
        what = getattr(value, "__qualname__", type(value).__name__)
        if inspect.iscoroutine(value):
            value.close()  # never awaited: closing it spares the RuntimeWarning
        raise ReturnsValidationError(f"returns: the handler returned a coroutine ({what})"
                                     " instead of a value: did you forget `await`?")
    if value is MISSING:
        value = None
    try:
        if fn.returns is not None:
            return fn.returns.validate(value, "returns")
        return canonicalize(value, "return value")
    except ReactorError as error:
        raise ReturnsValidationError(error.message) from None


def execution_seed(path: str, args: dict[str, Any], ts: int) -> int:
    """Same query, same args, same snapshot: same random numbers on every re-run."""
    digest = hashlib.blake2b(path.encode() + dumps(args) + ts.to_bytes(8, "little"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little")


def to_function_error(path: str, error: BaseException) -> FunctionError:
    """What the caller may see of an exception (client_errors.py), never a traceback;
    the server log line of the failure carries the same request id."""
    if isinstance(error, FunctionError):
        return error
    data = None
    if isinstance(error, AppError):
        try:
            data = canonicalize(error.data, "data")
        except ReactorError as bad:
            error = ReactorError(f"AppError {bad.message} (AppError data reaches the client as"
                                 " it is, so it must be a value)", code="InvalidAppErrorData")
    request_id = client_errors.current_request_id()
    summary = client_errors.summarize(path, error)
    if isinstance(error, AppError):
        code = "AppError"
    elif isinstance(error, ReactorError):
        code = error.code
    else:
        code = "UncaughtError"
    if isinstance(error, StorageError):
        logger.error("[Request ID: %s] %s: %s", request_id, path, error.message)
    elif code == "UncaughtError":
        logger.error("[Request ID: %s] %s: %s", request_id, path, summary, exc_info=error)
    else:
        logger.info("[Request ID: %s] %s failed: %s", request_id, path, summary)
    return FunctionError(client_errors.server_error(request_id, summary), code=code, data=data,
                         is_app_error=isinstance(error, AppError), request_id=request_id,
                         summary=summary, trace=client_errors.app_trace(error))


def user_time_exceeded(used_s: float, limit_s: float) -> LimitExceededError:
    return LimitExceededError(
        f"function ran for {used_s:.2f} s of its own code; the limit is {limit_s:g} s"
        " (move slow work into an action)", code="UserTimeExceeded")


def fresh_seed() -> int:
    """Mutations are re-run on a new snapshot anyway: each attempt gets fresh randomness."""
    return int.from_bytes(os.urandom(8), "little")


def _check_handler_args(fn: FunctionDefinition, args: dict[str, Any]) -> None:
    """Turn a handler/args mismatch into a clear error instead of a TypeError deep inside."""
    if fn.fits(args):
        return
    try:
        fn.signature.bind(None, **args)
    except TypeError as error:
        raise ArgsValidationError(f"args do not fit the handler's parameters: {error}") from None


class Escalated(Exception):
    """One step of the handler ran past the slice: run the function in a worker."""


async def call_handler(fn: FunctionDefinition, ctx: QueryCtx, args: dict[str, Any],
                       limit_s: float, slice_s: float = float("inf")) -> tuple[Any, float]:
    """The handler's checked return value and its longest step, under its user-time
    budget (preempt.py stops it at `limit_s`, or at `slice_s` with `Escalated`)."""
    _check_handler_args(fn, args)
    budget = Budget(limit_s=limit_s, slice_s=slice_s)
    try:
        value = await drive(fn.handler(ctx, **args), budget)
    except Preempted:
        if budget.reason == "slice":
            raise Escalated(fn.path) from None
        raise user_time_exceeded(budget.used_s, limit_s) from None
    return check_returns(fn, value), budget.longest_step_s


class Isolation(Protocol):
    """Worker processes for functions that hold the event loop too long (workers.py)."""

    slice_s: float

    def isolated(self, path: str) -> bool:
        """Whether calls of `path` go straight to a worker (it escalated recently)."""
        ...

    def escalated(self, path: str) -> None: ...

    async def run(self, call: RemoteCall) -> RemoteResult | None:
        """The result, or None if the worker had to be killed at the time limit."""
        ...


class Runner:
    """Executes queries and mutations against the database."""

    def __init__(self, database: Database, issuer: BuiltinIssuer | None,
                 resolve: Callable[[str], FunctionDefinition],
                 user_time_limit_s: float = USER_TIME_LIMIT_S,
                 now: Callable[[], float] = wall_clock_ms,
                 isolation: Isolation | None = None) -> None:
        self.database = database
        self.isolation = isolation
        self.issuer = issuer
        self.resolve = resolve
        self.user_time_limit_s = user_time_limit_s
        # ctx.now() of each execution; the engine's clock, so tests can move it.
        self.now = now
        # ctx.storage's file service (set by the engine once it has one).
        self.files: FileService | None = None
        self._retry_lane = asyncio.Lock()

    @property
    def slice_s(self) -> float:
        """How long one step may hold the loop before the call moves to a worker."""
        return float("inf") if self.isolation is None else self.isolation.slice_s

    def _isolated(self, fn: FunctionDefinition) -> bool:
        return fn.movable and self.isolation is not None and self.isolation.isolated(fn.path)

    def _slice(self, fn: FunctionDefinition) -> float:
        """How long one step of `fn` may hold the loop before it moves to a worker; a
        function workers cannot load (a system function) stays, whatever it takes."""
        return self.slice_s if fn.movable else float("inf")

    async def query(self, fn: FunctionDefinition, args: Any, identity: dict[str, Any] | None,
                    ts: int | None = None) -> Outcome:
        """Run a query at `ts` (the latest commit by default); a query that holds the loop
        past the slice is abandoned and run again in a worker process."""
        started = time.perf_counter()
        outcome = await self._query_once(fn, args, identity, ts)
        if outcome is None:
            outcome = await self._query_once(fn, args, identity, ts)
        assert outcome is not None
        outcome.duration_s = time.perf_counter() - started
        return outcome

    async def _query_once(self, fn: FunctionDefinition, args: Any,
                          identity: dict[str, Any] | None, ts: int | None) -> Outcome | None:
        """The outcome, or None if the query escalated to a worker and must run again."""
        outcome = Outcome(fn.path)
        with logs.capture() as sink:
            txn: Transaction | None = None
            try:
                checked = prepare_args(fn, args)
                txn = self.database.begin(read_only=True, ts=ts)
                if self._isolated(fn):
                    seed = execution_seed(fn.path, checked, txn.begin_ts)
                    outcome.value = await self._remote("query", fn, txn, checked, identity, seed,
                                                       sink)
                else:
                    ctx = QueryCtx(txn, identity,
                                   lambda: execution_seed(fn.path, checked, txn.begin_ts),
                                   self.now(), self.issuer, self.files, scope=fn.scope,
                                   resolve=self.resolve)
                    outcome.value, _ = await call_handler(fn, ctx, checked,
                                                          self.user_time_limit_s, self._slice(fn))
                outcome.ts = txn.begin_ts
            except Escalated:
                assert self.isolation is not None
                self.isolation.escalated(fn.path)
                return None
            except Exception as error:
                outcome.error = to_function_error(fn.path, error)
            finally:
                if txn is not None:
                    outcome.read_set = txn.read_set
                    txn.close()
        outcome.log_lines = sink.lines
        return outcome

    async def _remote(self, kind: str, fn: FunctionDefinition, txn: Transaction,
                      checked: dict[str, Any], identity: dict[str, Any] | None, seed: int,
                      sink: logs.LogSink) -> Any:
        """Run the handler in a worker at `txn`'s snapshot; its reads and writes join `txn`
        and its log lines `sink`. Raises what the handler raised (as a FunctionError)."""
        assert self.isolation is not None
        call = RemoteCall(kind, fn.path, checked, identity, txn.begin_ts, seed, self.now(),
                          tuple(self.database.catalog.user_table_names),
                          self.database.options.limits, self.user_time_limit_s,
                          client_errors.current_request_id())
        result = await self.isolation.run(call)
        if result is None:
            raise LimitExceededError(
                f"function ran for more than {self.user_time_limit_s:g} s of its own code and"
                f" was stopped; the limit is {self.user_time_limit_s:g} s"
                " (move slow work into an action)", code="UserTimeExceeded")
        sink.lines.extend(result.log_lines)
        error = result.function_error()
        txn.adopt(result.read_set(), {} if error is not None else result.pending_writes())
        if result.longest_step_s >= self.slice_s:
            self.isolation.escalated(fn.path)
        if error is not None:
            raise error
        return result.value

    async def mutation(self, fn: FunctionDefinition, args: Any,
                       identity: dict[str, Any] | None,
                       journal: Journal | None = None,
                       ticket: CommitTicket | None = None) -> Outcome:
        """Run and commit; on conflict re-run with jittered backoff, up to MAX_ATTEMPTS.

        After SERIALIZE_AFTER conflicts a mutation waits its turn in the retry
        lane: retried mutations then run one at a time, so a crowd contending
        for the same keys drains instead of colliding again and again. With a
        ticket, the mutation takes effect after its client's previous one
        (transactions/ordering.py); a retry first waits for that one to finish,
        so no mutation holds the lane while waiting for another.
        """
        started = time.perf_counter()
        try:
            checked = prepare_args(fn, args)
        except Exception as error:
            return Outcome(fn.path, error=to_function_error(fn.path, error))
        outcome: Outcome | ConflictError | Escalated | None = None
        for attempt in range(1, MAX_ATTEMPTS + 1):
            final = attempt == MAX_ATTEMPTS
            if attempt > SERIALIZE_AFTER:
                async with self._retry_lane:
                    outcome = await self._attempt(fn, checked, identity, journal, attempt, final,
                                                  ticket)
            else:
                outcome = await self._attempt(fn, checked, identity, journal, attempt, final,
                                              ticket)
            if isinstance(outcome, Outcome):
                break
            if isinstance(outcome, Escalated):
                continue  # at once, in a worker: nothing was committed
            previous = None if ticket is None else ticket.predecessor()
            if previous is not None:
                await previous.wait_done()
            # Re-running before the conflicting commit is visible would only conflict again
            # (bounded: that commit's batch may have failed and never become visible).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.database.wait_for(outcome.ts)
            await asyncio.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
        assert isinstance(outcome, Outcome)
        outcome.duration_s = time.perf_counter() - started
        return outcome

    async def _attempt(self, fn: FunctionDefinition, checked: dict[str, Any],
                       identity: dict[str, Any] | None, journal: Journal | None,
                       attempt: int, final: bool,
                       ticket: CommitTicket | None) -> Outcome | ConflictError | Escalated:
        """One execution and commit; a ConflictError means it should be re-run, and so
        does Escalated (in a worker process, since it held the loop too long).

        A failure counts only once it is known to hold after the client's
        previous mutation: it depends on what the handler read, too.
        """
        outcome = Outcome(fn.path, attempts=attempt)
        with logs.capture() as sink:
            txn = self.database.begin()
            try:
                ctx = MutationCtx(txn, identity, fresh_seed, self.now(), self.issuer,
                                  self.resolve, self.files, scope=fn.scope)
                stored = None if journal is None else await journal.lookup(txn)
                if stored is not None:
                    outcome.value = stored["value"]
                    outcome.ts = self.database.latest_ts
                else:
                    if self._isolated(fn):
                        outcome.value = await self._remote("mutation", fn, txn, checked,
                                                           identity, fresh_seed(), sink)
                    else:
                        outcome.value, _ = await call_handler(
                            fn, ctx, checked, self.user_time_limit_s, self._slice(fn))
                    if journal is not None:
                        await journal.record(txn, outcome.value, self.now())
                    outcome.ts = await self.database.commit(txn, ticket)
            except ConflictError as error:
                if not final:
                    return error
                outcome.error = to_function_error(fn.path, error)
            except Escalated as escalation:
                assert self.isolation is not None
                self.isolation.escalated(fn.path)
                return escalation
            except Exception as error:
                if ticket is not None and not final:
                    try:
                        await self.database.serialize_after(txn, ticket)
                    except ConflictError as conflict:
                        return conflict
                outcome.error = to_function_error(fn.path, error)
            finally:
                txn.close()
        outcome.log_lines = sink.lines
        return outcome

