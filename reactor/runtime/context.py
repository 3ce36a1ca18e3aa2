"""`ctx` for queries, mutations and actions: the database, auth, scheduler, clock and randomness."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from reactor.errors import InvalidValueError, NotFoundError, ReactorError
from reactor.runtime.auth import BuiltinIssuer, TokenVerifier
from reactor.runtime.components import ComponentReferences, reference_path
from reactor.runtime.database_ctx import DatabaseReader, DatabaseWriter, _user_table
from reactor.runtime.files import FileLinks, MutationStorage, QueryStorage
from reactor.runtime.functions import FunctionDefinition, FunctionKind
from reactor.runtime.scope import APP_SCOPE, Scope
from reactor.runtime.system.environment import EnvReader, transaction_env
from reactor.runtime.system.rate_limits import RateLimitStatus, rate_limit, reset_rate_limit
from reactor.runtime.system.scheduled_functions import JobQuota, ScheduledFunctions, job_owner
from reactor.runtime.timeunits import Duration, Instant, epoch_ms_of, seconds_of
from reactor.transactions import Transaction, run_hybrid_search, run_vector_search

# A function to call or schedule: the function itself, its path, or a component's
# function as `components.<name>.<module>.<function>`.
FunctionRef = FunctionDefinition | str | ComponentReferences
Resolve = Callable[[str], FunctionDefinition]
ScheduleHook = Callable[[str, dict[str, Any], float], Awaitable[str]]
CancelHook = Callable[[str], Awaitable[None]]


class Auth:
    """`ctx.auth`: who is calling, and (in mutations and actions) minting tokens."""

    def __init__(self, identity: dict[str, Any] | None, issuer: BuiltinIssuer | None,
                 can_issue: bool, verifier: Callable[[], TokenVerifier] | None = None,
                 refusal: ReactorError | None = None) -> None:
        self._identity = identity
        self._issuer = issuer
        self._can_issue = can_issue
        self._verifier = verifier
        # Why the request's credentials give no identity (an HTTP action's Authorization
        # header that is not a valid token): reading the identity raises it, as in Convex.
        self._refusal = refusal

    async def get_user_identity(self) -> dict[str, Any] | None:
        """The caller's identity (`subject`, `issuer`, `tokenIdentifier` and the token's
        claims), or None when the call carries no token."""
        if self._refusal is not None:
            raise self._refusal
        return None if self._identity is None else dict(self._identity)

    def issue_token(self, subject: str, claims: dict[str, Any] | None = None,
                    expires_in: Duration = 30 * 24 * 3600) -> str:
        """A JWT for `subject` from the server's built-in issuer, valid for `expires_in`
        (seconds or a `timedelta`; 30 days by default), for the client's `setAuth`."""
        if not self._can_issue or self._issuer is None:
            raise ReactorError("ctx.auth.issue_token is only available in mutations and actions",
                               code="NotAllowed")
        if not isinstance(subject, str) or not subject:
            raise InvalidValueError("issue_token: subject must be a non-empty string")
        return self._issuer.issue_token(subject, claims,
                                        seconds_of(expires_in, "issue_token: expires_in"))

    async def verify_token(self, token: str) -> dict[str, Any]:
        """The identity a JWT from one of the app's trusted issuers carries (the same
        check the server makes of a client's token), for tokens passed as arguments,
        such as proof of an account at another provider. Raises `AuthenticationError`
        saying why a token is refused. Actions only: keys may have to be fetched."""
        if self._verifier is None:
            raise ReactorError("ctx.auth.verify_token is only available in actions",
                               code="NotAllowed")
        return await self._verifier().verify(token)


def function_path(fn: FunctionRef) -> str:
    if isinstance(fn, ComponentReferences):
        return reference_path(fn)
    if isinstance(fn, FunctionDefinition):
        if not fn.path:
            raise NotFoundError("that function is not registered (is it in functions/?)",
                                code="FunctionNotFound")
        return fn.path
    if isinstance(fn, str):
        return fn
    raise InvalidValueError(f"expected a function or a path string, got {type(fn).__name__}")


def resolve_in(scope: Scope, fn: FunctionRef, resolve: Resolve) -> FunctionDefinition:
    """The function `fn` names, as code in `scope` names it (a component's path strings
    name its own functions, and it may call no others)."""
    if isinstance(fn, FunctionDefinition):
        scope.check_callee(fn.path)
        return fn
    return resolve(scope.callee(function_path(fn)))


def schedulable_path(fn: FunctionRef, resolve: Resolve, scope: Scope = APP_SCOPE) -> str:
    """The canonical path of a mutation or action that may be scheduled."""
    definition = resolve_in(scope, fn, resolve)
    if definition.kind is FunctionKind.QUERY:
        raise InvalidValueError(f"{definition.path} is a query: only mutations and actions"
                                " can be scheduled")
    return definition.path


def check_delay(delay: object) -> float:
    """`run_after`'s delay in seconds (a number of seconds or a `timedelta`)."""
    return seconds_of(delay, "run_after")


def check_job_args(args: object) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise InvalidValueError(f"scheduler: args must be a dict, got {type(args).__name__}")
    return dict(args)


def check_timestamp(when: object) -> float:
    """`run_at`'s time in ms since the epoch (such a number or an aware `datetime`)."""
    return epoch_ms_of(when, "run_at")


class TransactionScheduler:
    """`ctx.scheduler` in a mutation: jobs are inserted by the mutation's own transaction,
    so they exist exactly when the mutation commits (a retried attempt leaves nothing)."""

    def __init__(self, txn: Transaction, resolve: Resolve, now_ms: float,
                 identity: dict[str, Any] | None = None, scope: Scope = APP_SCOPE) -> None:
        self._jobs = ScheduledFunctions(txn)
        self._resolve = resolve
        self._scope = scope
        self._now_ms = now_ms
        self._quota = JobQuota(job_owner(identity))

    async def run_after(self, delay: Duration, fn: FunctionRef,
                        args: dict[str, Any] | None = None) -> str:
        """Run `fn(args)` after `delay` (seconds or a `timedelta`); returns the job id.

        The job is inserted by this mutation's transaction: it exists only if the
        mutation commits.
        """
        return await self.run_at(self._now_ms + check_delay(delay) * 1000, fn, args)

    async def run_at(self, when: Instant, fn: FunctionRef,
                     args: dict[str, Any] | None = None) -> str:
        """Run `fn(args)` at `when` (an aware `datetime`, or ms since the epoch as
        `ctx.now()` gives); a time in the past runs as soon as possible. Returns the job id."""
        when = check_timestamp(when)
        return await self._jobs.schedule(schedulable_path(fn, self._resolve, self._scope),
                                         check_job_args(args), when, self._quota)

    async def cancel(self, job_id: str) -> None:
        """Cancel a pending job (one that started already is left to finish)."""
        await self._jobs.cancel(job_id, self._now_ms)


class QueryCtx:
    """What a query handler receives; parts most handlers never touch are made on use."""

    writable = False

    def __init__(self, txn: Transaction, identity: dict[str, Any] | None,
                 seed: Callable[[], int], now_ms: float,
                 issuer: BuiltinIssuer | None = None, files: FileLinks | None = None, *,
                 scope: Scope = APP_SCOPE, resolve: Resolve | None = None) -> None:
        # Whose function runs here: the app's or an installed component's (scope.py).
        self.scope = scope
        self._resolve_query = resolve
        self.db: DatabaseReader = (DatabaseWriter(txn, scope) if self.writable
                                   else DatabaseReader(txn, scope))
        self.auth = Auth(identity, issuer, can_issue=self.writable)
        # How deep in ctx.run_query / ctx.run_mutation calls this execution is.
        self.nesting = 0
        self._issuer = issuer
        self._identity = identity
        self._files = files
        self._txn = txn
        self._seed = seed
        self._random: random.Random | None = None
        self._now_ms = now_ms

    @functools.cached_property
    def env(self) -> EnvReader:
        """`ctx.env`: the environment variables (reads join the read set)."""
        return transaction_env(self._txn)

    @functools.cached_property
    def storage(self) -> QueryStorage:
        """`ctx.storage`: URLs and metadata of stored files (reads join the read set)."""
        return QueryStorage(self._txn, self._files, self._now_ms)

    async def vector_search(self, table: str, index: str, *, vector: list[float],
                            limit: int = 10, filter: Callable[[Any], Any] | None = None
                            ) -> list[dict[str, Any]]:
        """`[{"_id", "_score"}]`: the `limit` (1-256) documents nearest to `vector` by cosine
        similarity, best first; in a query the result is reactive."""
        stored = self.scope.table(_user_table(table), "ctx.vector_search")
        return await run_vector_search(self._txn, stored, index, vector=vector,
                                       limit=limit, filter=filter)

    async def hybrid_search(self, table: str, *, text_index: str, text: str,
                            vector_index: str, vector: list[float], limit: int = 10,
                            eq: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A text and a vector search fused by reciprocal rank fusion (k = 60)."""
        stored = self.scope.table(_user_table(table), "ctx.hybrid_search")
        return await run_hybrid_search(self._txn, stored, text_index=text_index,
                                       text=text, vector_index=vector_index, vector=vector,
                                       limit=limit, eq=eq)

    def now(self) -> float:
        """Milliseconds since the epoch, fixed for the whole execution."""
        return self._now_ms

    @property
    def transaction(self) -> Transaction:
        """The execution's transaction (for the runtime's nested calls, not for app code)."""
        return self._txn

    def resolver(self) -> Resolve | None:
        """How this execution looks up functions by path (None: only function objects)."""
        return self._resolve_query

    def child(self, kind: type[QueryCtx], depth: int, scope: Scope) -> QueryCtx:
        """The ctx of a query this one calls (nested.py): same transaction, read-only,
        in the callee's scope (a component's query sees its own tables)."""
        nested = QueryCtx(self._txn, self._identity, self._seed, self._now_ms, self._issuer,
                          self._files, scope=scope, resolve=self.resolver())
        nested.nesting = depth
        return nested

    async def run_query(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        """Run a query inside this transaction (its reads count as this function's);
        `fn` is the function itself, its path (`"tasks:get"`), a components reference or
        a function handle."""
        from reactor.runtime import nested  # nested.py builds on this module

        return await nested.run_query(self, fn, args)

    def random(self) -> float:
        """A float in [0, 1) from this execution's seeded generator (made on first use)."""
        if self._random is None:
            self._random = random.Random(self._seed())
        return self._random.random()

    async def rate_limit(self, name: str, *, key: str | None = None, rate: float,
                         period: timedelta | float, capacity: float | None = None,
                         count: float = 1, raises: bool = True) -> RateLimitStatus:
        """Take `count` tokens from the bucket `(name, key)`: `rate` tokens per `period`
        (a `timedelta` or seconds), saving up at most `capacity` (default: `rate`).

        In a mutation the bucket is part of the transaction: what is taken stays
        taken only if the mutation commits (a failed or retried attempt takes
        nothing), and concurrent callers are serialized like any other write. In
        an action each call commits at once. An empty bucket raises `RateLimited`
        (an `AppError` whose data is `{"code": "RateLimited", "name",
        "retryAfter"}`), or with `raises=False` returns a falsy status whose
        `retry_after` says how many seconds to wait. Queries cannot take tokens.
        """
        raise ReactorError("ctx.rate_limit is only available in mutations and actions"
                           " (a query cannot write)", code="NotAllowed")

    async def reset_rate_limit(self, name: str, *, key: str | None = None) -> None:
        """Refill the bucket `(name, key)` (say, after a successful sign-in)."""
        raise ReactorError("ctx.reset_rate_limit is only available in mutations and actions",
                           code="NotAllowed")


class MutationCtx(QueryCtx):
    """What a mutation handler receives: `ctx.db` writes, `ctx.scheduler` schedules."""

    writable = True
    db: DatabaseWriter

    def __init__(self, txn: Transaction, identity: dict[str, Any] | None,
                 seed: Callable[[], int], now_ms: float, issuer: BuiltinIssuer | None,
                 resolve: Resolve, files: FileLinks | None = None, *,
                 scope: Scope = APP_SCOPE) -> None:
        super().__init__(txn, identity, seed, now_ms, issuer, files, scope=scope,
                         resolve=resolve)
        self._resolve = resolve

    def resolve_function(self, path: str) -> FunctionDefinition:
        """The function registered under `path` (for the runtime's nested calls)."""
        return self._resolve(path)

    def child(self, kind: type[QueryCtx], depth: int, scope: Scope) -> QueryCtx:
        """The ctx of a function this mutation calls: a mutation writes in this
        transaction, a query only reads (and sees this mutation's writes)."""
        if kind is not MutationCtx:
            return super().child(kind, depth, scope)
        nested = MutationCtx(self._txn, self._identity, self._seed, self._now_ms, self._issuer,
                             self._resolve, self._files, scope=scope)
        nested.nesting = depth
        return nested

    async def run_mutation(self, fn: FunctionRef, args: dict[str, Any] | None = None) -> Any:
        """Run a mutation as a sub-transaction of this one: if it raises, its writes are
        undone and the exception reaches this function, which may catch it and go on."""
        from reactor.runtime import nested  # nested.py builds on this module

        return await nested.run_mutation(self, fn, args)

    @functools.cached_property
    def storage(self) -> MutationStorage:
        """`ctx.storage`: also upload URLs and deleting files with this mutation."""
        return MutationStorage(self._txn, self._files, self._now_ms, self._identity)

    @functools.cached_property
    def scheduler(self) -> TransactionScheduler:
        """`ctx.scheduler`: `run_after`, `run_at` and `cancel`, atomic with this mutation."""
        return TransactionScheduler(self._txn, self._resolve, self._now_ms, self._identity,
                                    self.scope)

    async def rate_limit(self, name: str, *, key: str | None = None, rate: float,
                         period: timedelta | float, capacity: float | None = None,
                         count: float = 1, raises: bool = True) -> RateLimitStatus:
        """See `QueryCtx.rate_limit`: here the bucket is written by this transaction."""
        return await rate_limit(self._txn, name, key, rate, period, capacity, count, raises,
                                self._now_ms)

    async def reset_rate_limit(self, name: str, *, key: str | None = None) -> None:
        """Refill the bucket `(name, key)` in this transaction."""
        await reset_rate_limit(self._txn, name, key)


def wall_clock_ms() -> float:
    return time.time_ns() / 1e6
