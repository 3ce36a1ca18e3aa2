"""`ctx` for queries, mutations and actions: the database, auth, scheduler, clock and randomness."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from reactor.errors import InvalidValueError, NotFoundError, ReactorError
from reactor.runtime.auth import BuiltinIssuer
from reactor.runtime.functions import FunctionDefinition
from reactor.runtime.system.scheduled_functions import (
    CANCELED,
    PENDING,
    SCHEDULED_FUNCTIONS,
    new_job,
)
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import is_id_for

FunctionRef = FunctionDefinition | str
ScheduleHook = Callable[[str, dict[str, Any], float], Awaitable[str]]
CancelHook = Callable[[str], Awaitable[None]]


class SystemTableError(ReactorError):
    code = "SystemTable"


def _user_table(name: object) -> str:
    if isinstance(name, str) and name.startswith("_"):
        raise SystemTableError(
            f'table "{name}" is a system table: read it with ctx.db.system.query("{name}")')
    return name  # type: ignore[return-value]


class SystemReader:
    """Read-only access to system tables such as `_scheduled_functions`."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        table = self._txn.catalog.table_of_id(doc_id)
        if table is None or not table.startswith("_"):
            return None
        return await self._txn.get(doc_id)

    def query(self, table: str) -> QueryBuilder:
        if not (isinstance(table, str) and table in self._txn.catalog.system_tables):
            raise NotFoundError(f"no system table {table!r}"
                                f" (system tables: {', '.join(self._txn.catalog.system_tables)})",
                                code="TableNotFound")
        return QueryBuilder(self._txn, table)


class DatabaseReader:
    """`ctx.db` in a query."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn
        self.system = SystemReader(txn)

    async def get(self, doc_id: str) -> dict[str, Any] | None:
        table = self._txn.catalog.table_of_id(doc_id)
        if table is not None and table.startswith("_"):
            raise SystemTableError("ctx.db.get: that id belongs to a system table;"
                                   " use ctx.db.system.get")
        return await self._txn.get(doc_id)

    def query(self, table: str) -> QueryBuilder:
        return QueryBuilder(self._txn, _user_table(table))

    def normalize_id(self, table: str, doc_id: object) -> str | None:
        """`doc_id` if it is a well-formed id of `table`, else None."""
        if isinstance(doc_id, str) and is_id_for(table, doc_id):
            return doc_id
        return None


class DatabaseWriter(DatabaseReader):
    """`ctx.db` in a mutation."""

    async def insert(self, table: str, document: dict[str, Any]) -> str:
        return await self._txn.insert(_user_table(table), document)

    async def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        await self._check_user_id(doc_id)
        await self._txn.patch(doc_id, fields)

    async def replace(self, doc_id: str, document: dict[str, Any]) -> None:
        await self._check_user_id(doc_id)
        await self._txn.replace(doc_id, document)

    async def delete(self, doc_id: str) -> None:
        await self._check_user_id(doc_id)
        await self._txn.delete(doc_id)

    async def _check_user_id(self, doc_id: str) -> None:
        table = self._txn.catalog.table_of_id(doc_id)
        if table is not None and table.startswith("_"):
            raise SystemTableError("system tables cannot be written by app code")


class Auth:
    """`ctx.auth`: who is calling, and (in mutations and actions) minting tokens."""

    def __init__(self, identity: dict[str, Any] | None, issuer: BuiltinIssuer | None,
                 can_issue: bool) -> None:
        self._identity = identity
        self._issuer = issuer
        self._can_issue = can_issue

    async def get_user_identity(self) -> dict[str, Any] | None:
        return None if self._identity is None else dict(self._identity)

    def issue_token(self, subject: str, claims: dict[str, Any] | None = None,
                    expires_in: float = 30 * 24 * 3600) -> str:
        """A JWT for `subject` from the server's built-in issuer."""
        if not self._can_issue or self._issuer is None:
            raise ReactorError("ctx.auth.issue_token is only available in mutations and actions",
                               code="NotAllowed")
        if not isinstance(subject, str) or not subject:
            raise InvalidValueError("issue_token: subject must be a non-empty string")
        return self._issuer.issue_token(subject, claims, expires_in)


def function_path(fn: FunctionRef) -> str:
    if isinstance(fn, FunctionDefinition):
        if not fn.path:
            raise NotFoundError("that function is not registered (is it in functions/?)",
                                code="FunctionNotFound")
        return fn.path
    if isinstance(fn, str):
        return fn
    raise InvalidValueError(f"expected a function or a path string, got {type(fn).__name__}")


class TransactionScheduler:
    """`ctx.scheduler` in a mutation: jobs are inserted by the mutation's own transaction."""

    def __init__(self, txn: Transaction, resolve: Callable[[str], FunctionDefinition],
                 now_ms: float) -> None:
        self._txn = txn
        self._resolve = resolve
        self._now_ms = now_ms

    async def run_after(self, seconds: float, fn: FunctionRef,
                        args: dict[str, Any] | None = None) -> str:
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise InvalidValueError(f"run_after: delay must be a non-negative number of seconds,"
                                    f" got {seconds!r}")
        return await self.run_at(self._now_ms + seconds * 1000, fn, args)

    async def run_at(self, timestamp_ms: float, fn: FunctionRef,
                     args: dict[str, Any] | None = None) -> str:
        if not isinstance(timestamp_ms, int | float) or isinstance(timestamp_ms, bool):
            raise InvalidValueError(f"run_at: expected a time in ms since the epoch,"
                                    f" got {timestamp_ms!r}")
        path = function_path(fn)
        self._resolve(path)
        return await self._txn.insert(SCHEDULED_FUNCTIONS,
                                      new_job(path, dict(args or {}), float(timestamp_ms)))

    async def cancel(self, job_id: str) -> None:
        job = await self._txn.get(job_id)
        if job is None or self._txn.catalog.table_of_id(job_id) != SCHEDULED_FUNCTIONS:
            raise NotFoundError(f"cancel: no scheduled job {job_id!r}", code="JobNotFound")
        if job["state"]["kind"] == PENDING:
            await self._txn.patch(job_id, {"state": {"kind": CANCELED},
                                           "completedTime": self._now_ms})


class QueryCtx:
    """What a query handler receives."""

    def __init__(self, txn: Transaction, identity: dict[str, Any] | None, seed: int,
                 now_ms: float, issuer: BuiltinIssuer | None = None) -> None:
        self.db = DatabaseReader(txn)
        self.auth = Auth(identity, issuer, can_issue=False)
        self._random = random.Random(seed)
        self._now_ms = now_ms

    def now(self) -> float:
        """Milliseconds since the epoch, fixed for the whole execution."""
        return self._now_ms

    def random(self) -> float:
        """A float in [0, 1) from this execution's seeded generator."""
        return self._random.random()


class MutationCtx(QueryCtx):
    def __init__(self, txn: Transaction, identity: dict[str, Any] | None, seed: int,
                 now_ms: float, issuer: BuiltinIssuer | None,
                 resolve: Callable[[str], FunctionDefinition]) -> None:
        super().__init__(txn, identity, seed, now_ms)
        self.db = DatabaseWriter(txn)
        self.auth = Auth(identity, issuer, can_issue=True)
        self.scheduler = TransactionScheduler(txn, resolve, now_ms)


def wall_clock_ms() -> float:
    return time.time_ns() / 1e6
