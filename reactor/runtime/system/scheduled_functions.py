"""`_scheduled_functions`: one document per scheduled job, written atomically with its mutation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reactor.errors import LimitExceededError, NotFoundError
from reactor.schema import TableDefinition, define_table
from reactor.transactions import IndexRange, QueryBuilder, Transaction
from reactor.values import v

SCHEDULED_FUNCTIONS = "_scheduled_functions"

PENDING = "pending"
IN_PROGRESS = "inProgress"
SUCCESS = "success"
FAILED = "failed"
CANCELED = "canceled"
FINISHED = (SUCCESS, FAILED, CANCELED)

_state = v.union(
    v.object({"kind": v.literal(PENDING)}),
    v.object({"kind": v.literal(IN_PROGRESS)}),
    v.object({"kind": v.literal(SUCCESS)}),
    v.object({"kind": v.literal(FAILED), "error": v.string()}),
    v.object({"kind": v.literal(CANCELED)}),
)


def scheduled_functions_table() -> TableDefinition:
    table = define_table({
        "name": v.string(),
        "args": v.array(v.any()),
        "scheduledTime": v.number(),
        "completedTime": v.optional(v.number()),
        "state": _state,
        # The signed-in identity (tokenIdentifier) whose call scheduled it, if any.
        "owner": v.optional(v.string()),
    }).index("by_state_time", ["state.kind", "scheduledTime"]).index(
        "by_owner_state", ["owner", "state.kind"])
    table.name = SCHEDULED_FUNCTIONS
    return table


# Jobs one function call (a mutation attempt, an action) may schedule, and jobs one
# signed-in identity may have pending at once: a client cannot fill the table.
MAX_JOBS_PER_CALL = 1_000
MAX_PENDING_PER_IDENTITY = 1_000


def new_job(path: str, args: dict[str, Any], scheduled_ms: float,
            owner: str | None = None) -> dict[str, Any]:
    job = {"name": path, "args": [args], "scheduledTime": scheduled_ms,
           "state": {"kind": PENDING}}
    if owner is not None:
        job["owner"] = owner
    return job


def job_owner(identity: dict[str, Any] | None) -> str | None:
    """Whose pending jobs a call's jobs count against: a signed-in identity's, or nobody's
    (anonymous calls are bounded per call and by the server's call rate instead)."""
    if identity is None:
        return None
    owner = identity.get("tokenIdentifier") or identity.get("subject")
    return str(owner) if owner else None


class JobQuota:
    """The jobs one call schedules, and whose they are."""

    def __init__(self, owner: str | None) -> None:
        self.owner = owner
        self.scheduled = 0
        # The owner's pending jobs when the call first scheduled (read once per call).
        self.pending_before: int | None = None

    def take(self) -> None:
        if self.scheduled >= MAX_JOBS_PER_CALL:
            raise LimitExceededError(f"a function may schedule at most {MAX_JOBS_PER_CALL}"
                                     " jobs per call (schedule one job that schedules the"
                                     " rest in batches)", code="TooManyScheduledJobs")
        self.scheduled += 1


def job_args(job: dict[str, Any]) -> dict[str, Any]:
    """The call arguments stored with a job (`args` holds one object, as a list)."""
    args = job["args"]
    return args[0] if args and isinstance(args[0], dict) else {}


class ScheduledFunctions:
    """The jobs table seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    def _by_state(self, kind: str) -> QueryBuilder:
        return (QueryBuilder(self._txn, SCHEDULED_FUNCTIONS)
                .with_index("by_state_time", lambda q: q.eq("state.kind", kind)))

    async def schedule(self, path: str, args: dict[str, Any], scheduled_ms: float,
                       quota: JobQuota | None = None) -> str:
        """Insert a pending job; with a `quota`, within its per-call and per-owner caps."""
        owner = None
        if quota is not None:
            quota.take()
            owner = quota.owner
            if owner is not None:
                await self._check_pending(owner, quota)
        return await self._txn.insert(SCHEDULED_FUNCTIONS,
                                      new_job(path, args, scheduled_ms, owner))

    async def _check_pending(self, owner: str, quota: JobQuota) -> None:
        """Refuse past MAX_PENDING_PER_IDENTITY: the owner's pending jobs are read once
        per call (one bounded range, in the read set), then counted as they are added."""
        if quota.pending_before is None:
            found = await (QueryBuilder(self._txn, SCHEDULED_FUNCTIONS)
                           .with_index("by_owner_state",
                                       lambda q: q.eq("owner", owner).eq("state.kind", PENDING))
                           .take(MAX_PENDING_PER_IDENTITY))
            quota.pending_before = len(found)
        if quota.pending_before + quota.scheduled > MAX_PENDING_PER_IDENTITY:
            raise LimitExceededError(f"this user already has {MAX_PENDING_PER_IDENTITY}"
                                     " scheduled jobs waiting to run", code="TooManyPendingJobs")

    async def get(self, job_id: str) -> dict[str, Any] | None:
        if self._txn.catalog.table_of_id(job_id) != SCHEDULED_FUNCTIONS:
            return None
        return await self._txn.get(job_id)

    async def cancel(self, job_id: str, now_ms: float) -> None:
        """Cancel a pending job; a job that already started or finished is left alone."""
        job = await self.get(job_id)
        if job is None:
            raise NotFoundError(f"cancel: no scheduled job {job_id!r}", code="JobNotFound")
        if job["state"]["kind"] == PENDING:
            await self._txn.patch(job_id, {"state": {"kind": CANCELED},
                                           "completedTime": now_ms})

    async def pending(self, limit: int) -> list[dict[str, Any]]:
        """The `limit` pending jobs that are due first (some may be due in the future)."""
        return await self._by_state(PENDING).take(limit)

    async def in_progress(self, limit: int) -> list[dict[str, Any]]:
        return await self._by_state(IN_PROGRESS).take(limit)

    async def finished_before(self, cutoff_ms: float, limit: int,
                              kinds: Iterable[str] = FINISHED) -> list[dict[str, Any]]:
        """Finished jobs both scheduled and completed before `cutoff_ms`."""
        found: list[dict[str, Any]] = []
        for kind in kinds:
            def scheduled_before(q: IndexRange, state: str = kind) -> IndexRange:
                return q.eq("state.kind", state).lt("scheduledTime", cutoff_ms)

            found += await (
                QueryBuilder(self._txn, SCHEDULED_FUNCTIONS)
                .with_index("by_state_time", scheduled_before)
                .filter(lambda job: job.get("completedTime", 0.0) < cutoff_ms)
                .take(limit - len(found)))
            if len(found) >= limit:
                break
        return found

    async def transition(self, job_id: str, expected: str, state: dict[str, Any],
                         now_ms: float | None = None) -> bool:
        """Move a job from `expected` to `state`; False (and no write) if it was not there."""
        job = await self.get(job_id)
        if job is None or job["state"]["kind"] != expected:
            return False
        fields: dict[str, Any] = {"state": state}
        if now_ms is not None:
            fields["completedTime"] = now_ms
        await self._txn.patch(job_id, fields)
        return True

    async def delete(self, job_id: str) -> None:
        await self._txn.delete(job_id)


class JobCompletion:
    """Runs with a scheduled mutation, inside its transaction: exactly once.

    `lookup` re-reads the job in the mutation's own transaction: a job that is
    no longer pending (done, canceled) is skipped, and a concurrent change to
    the job makes the mutation conflict and retry. `record` marks it done in
    the same commit as the mutation's writes.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.skipped = False

    async def lookup(self, txn: Transaction) -> dict[str, Any] | None:
        job = await ScheduledFunctions(txn).get(self.job_id)
        self.skipped = job is None or job["state"]["kind"] != PENDING
        return {"value": None} if self.skipped else None

    async def record(self, txn: Transaction, value: Any, now_ms: float) -> None:
        await ScheduledFunctions(txn).transition(self.job_id, PENDING, {"kind": SUCCESS},
                                                 now_ms)
