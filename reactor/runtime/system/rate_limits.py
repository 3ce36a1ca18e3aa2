"""`_rate_limits`: token buckets for app code (`ctx.rate_limit`), stored like any document.

A bucket is read and written inside the caller's transaction, so it is exactly
as consistent as the mutation's other writes: two mutations taking the last
token conflict and one of them re-runs and is refused; a mutation that fails
(or is retried) takes nothing. Only buckets that are not full are stored — a
full bucket and no bucket behave the same — so a document is written when a
token is taken, and deleted by the scheduler's housekeeping once the bucket has
refilled (`fullAt`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reactor.errors import AppError, InvalidValueError
from reactor.runtime.system.transact import transact
from reactor.runtime.token_bucket import BucketPolicy, take
from reactor.schema import TableDefinition, define_table
from reactor.transactions import Database, QueryBuilder, Transaction
from reactor.values import v

RATE_LIMITS = "_rate_limits"

MAX_NAME_CHARS = 64
MAX_KEY_CHARS = 1024


def rate_limits_table() -> TableDefinition:
    table = define_table({
        "name": v.string(),
        "key": v.string(),
        "tokens": v.number(),
        # When `tokens` was counted, and when the bucket will be full again (ms).
        "countedAt": v.number(),
        "fullAt": v.number(),
    }).index("by_name_key", ["name", "key"]).index("by_full_at", ["fullAt"])
    table.name = RATE_LIMITS
    return table


@dataclass(frozen=True, slots=True)
class RateLimitStatus:
    """What `ctx.rate_limit` decided: `ok`, or how many seconds to wait (`retry_after`)."""

    ok: bool
    retry_after: float = 0.0

    def __bool__(self) -> bool:
        return self.ok


class RateLimited(AppError):
    """Raised by `ctx.rate_limit` when the bucket is empty; the client receives it as an
    application error whose data is `{"code": "RateLimited", "name", "retryAfter"}`
    (seconds), so it can say when to try again."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__({"code": "RateLimited", "name": name, "retryAfter": retry_after},
                         f"rate limit {name!r} exceeded; retry in {retry_after:.3g} s")
        self.name = name
        self.retry_after = retry_after


def check_bucket(where: str, name: object, key: object) -> tuple[str, str]:
    """`name` and `key` as stored; a clear error for anything else."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise InvalidValueError(f"{where}: name must be a string of 1 to {MAX_NAME_CHARS}"
                                f" characters, got {name!r}")
    if key is None:
        key = ""
    if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
        raise InvalidValueError(f"{where}: key must be a string of at most {MAX_KEY_CHARS}"
                                f" characters (or None for one bucket per name), got"
                                f" {type(key).__name__} {str(key)[:40]!r}")
    return name, key


class RateLimits:
    """The buckets seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    async def _bucket(self, name: str, key: str) -> dict[str, Any] | None:
        return await (QueryBuilder(self._txn, RATE_LIMITS)
                      .with_index("by_name_key", lambda q: q.eq("name", name).eq("key", key))
                      .first())

    async def take(self, name: str, key: str, policy: BucketPolicy, count: float,
                   now_ms: float) -> RateLimitStatus:
        """Take `count` tokens from the bucket `(name, key)` if it holds that many."""
        if count > policy.capacity:
            raise InvalidValueError(f"rate_limit {name!r}: count {count:g} exceeds the"
                                    f" bucket's capacity {policy.capacity:g}")
        doc = await self._bucket(name, key)
        now_s = now_ms / 1000
        if doc is None:
            taken = take(policy, policy.capacity, now_s, now_s, count)
        else:
            taken = take(policy, doc["tokens"], doc["countedAt"] / 1000, now_s, count)
        if not taken.ok:
            return RateLimitStatus(False, taken.retry_after_s)
        fields = {"tokens": taken.tokens, "countedAt": now_ms,
                  "fullAt": now_ms + policy.full_after(taken.tokens) * 1000}
        if doc is None:
            await self._txn.insert(RATE_LIMITS, {"name": name, "key": key, **fields})
        else:
            await self._txn.patch(doc["_id"], fields)
        return RateLimitStatus(True)

    async def reset(self, name: str, key: str) -> None:
        """Forget the bucket: it is full again."""
        doc = await self._bucket(name, key)
        if doc is not None:
            await self._txn.delete(doc["_id"])

    async def delete_full(self, now_ms: float, limit: int) -> int:
        """Delete up to `limit` buckets that have refilled by `now_ms`; how many."""
        docs = await (QueryBuilder(self._txn, RATE_LIMITS)
                      .with_index("by_full_at", lambda q: q.lte("fullAt", now_ms))
                      .take(limit))
        for doc in docs:
            await self._txn.delete(doc["_id"])
        return len(docs)


async def rate_limit(txn: Transaction, name: object, key: object, rate: object,
                     period: object, capacity: object, count: object, raises: bool,
                     now_ms: float) -> RateLimitStatus:
    """`ctx.rate_limit` over one transaction: check the arguments, take, raise if asked."""
    bucket_name, bucket_key = check_bucket("rate_limit", name, key)
    policy = BucketPolicy.of(f"rate_limit {bucket_name!r}", rate, period, capacity)
    if (not isinstance(count, int | float) or isinstance(count, bool)
            or not 0 < count < float("inf")):
        raise InvalidValueError(f"rate_limit {bucket_name!r}: count must be a positive"
                                f" number of tokens, got {count!r}")
    status = await RateLimits(txn).take(bucket_name, bucket_key, policy, float(count), now_ms)
    if raises and not status.ok:
        raise RateLimited(bucket_name, status.retry_after)
    return status


async def reset_rate_limit(txn: Transaction, name: object, key: object) -> None:
    """`ctx.reset_rate_limit` over one transaction."""
    bucket_name, bucket_key = check_bucket("reset_rate_limit", name, key)
    await RateLimits(txn).reset(bucket_name, bucket_key)


class ActionRateLimits:
    """`ctx.rate_limit` in an action: each call is its own small transaction, committed
    before it returns, so what it takes stays taken whatever the action does next."""

    def __init__(self, database: Database, now: Callable[[], float]) -> None:
        self._database = database
        self._now = now

    async def rate_limit(self, name: object, key: object, rate: object, period: object,
                         capacity: object, count: object, raises: bool) -> RateLimitStatus:
        now_ms = self._now()
        status = await transact(self._database, lambda txn: rate_limit(
            txn, name, key, rate, period, capacity, count, False, now_ms))
        if raises and not status.ok:
            raise RateLimited(str(name), status.retry_after)
        return status

    async def reset(self, name: object, key: object) -> None:
        await transact(self._database, lambda txn: reset_rate_limit(txn, name, key))
