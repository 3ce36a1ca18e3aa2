"""`ctx.rate_limit`: token buckets stored with the caller's transaction (the app's library)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor import FunctionError
from reactor.runtime.scheduler import ManualClock
from reactor.runtime.system.rate_limits import RATE_LIMITS
from reactor.runtime.system.transact import read
from reactor.runtime.token_bucket import BucketPolicy, take
from reactor.testing import ReactorTest
from reactor.transactions import QueryBuilder

APP = Path(__file__).parent / "apps" / "ratelimit"


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP, clock=ManualClock()) as test:
        yield test


def advance(t: ReactorTest, seconds: float) -> None:
    clock = t.clock
    assert isinstance(clock, ManualClock)
    clock.advance(seconds)


async def refused(t: ReactorTest, path: str, args: dict[str, Any]) -> dict[str, Any]:
    """The errorData of a call that must be refused by a rate limit."""
    call = t.action if path.endswith("_action") else t.mutation
    with pytest.raises(FunctionError) as caught:
        await call(path, args)
    assert caught.value.code == "AppError", caught.value.message
    data = caught.value.data
    assert isinstance(data, dict) and data["code"] == "RateLimited", data
    return data


async def stored_buckets(t: ReactorTest) -> list[dict[str, Any]]:
    return await read(t.engine.database, lambda txn: QueryBuilder(txn, RATE_LIMITS).collect())


async def test_a_bucket_allows_its_rate_then_refuses_until_it_refills(t: ReactorTest) -> None:
    for _ in range(3):
        assert await t.mutation("limited:sign_in", {"email": "a@x.org"}) == "ok"
    data = await refused(t, "limited:sign_in", {"email": "a@x.org"})
    # 3 per minute: one token every 20 s.
    assert data["name"] == "signIn" and data["retryAfter"] == pytest.approx(20.0)
    assert await t.mutation("limited:sign_in", {"email": "b@x.org"}) == "ok"
    advance(t, 19)
    data = await refused(t, "limited:sign_in", {"email": "a@x.org"})
    assert data["retryAfter"] == pytest.approx(1.0)
    advance(t, 1)
    assert await t.mutation("limited:sign_in", {"email": "a@x.org"}) == "ok"
    await refused(t, "limited:sign_in", {"email": "a@x.org"})


async def test_concurrent_callers_get_exactly_the_tokens_there_are(t: ReactorTest) -> None:
    """Stored transactionally: 30 concurrent mutations on one bucket, 3 go through."""
    results = await asyncio.gather(
        *(t.mutation("limited:sign_in", {"email": "race@x.org"}) for _ in range(30)),
        return_exceptions=True)
    assert results.count("ok") == 3
    for result in results:
        if result != "ok":
            assert isinstance(result, FunctionError) and result.data["code"] == "RateLimited"
    attempts = await read(t.engine.database,
                          lambda txn: QueryBuilder(txn, "attempts").collect())
    assert len(attempts) == 3


async def test_a_failed_mutation_takes_nothing(t: ReactorTest) -> None:
    for _ in range(10):
        with pytest.raises(FunctionError, match="wrong password"):
            await t.mutation("limited:sign_in_then_fail", {"email": "a@x.org"})
    for _ in range(3):
        assert await t.mutation("limited:sign_in", {"email": "a@x.org"}) == "ok"


async def test_in_an_action_every_attempt_counts_and_reset_refills(t: ReactorTest) -> None:
    for _ in range(2):
        with pytest.raises(FunctionError, match="wrong password"):
            await t.action("limited:sign_in_action", {"email": "a@x.org", "password": "no"})
    # The right password is refused too: the bucket is empty.
    data = await refused(t, "limited:sign_in_action", {"email": "a@x.org", "password": "right"})
    assert data["retryAfter"] == pytest.approx(15.0)
    advance(t, 15)
    assert await t.action("limited:sign_in_action",
                          {"email": "a@x.org", "password": "right"}) == "signed in"
    # Signing in reset the bucket: two wrong attempts are allowed again.
    for _ in range(2):
        with pytest.raises(FunctionError, match="wrong password"):
            await t.action("limited:sign_in_action", {"email": "a@x.org", "password": "no"})


async def test_raises_false_returns_the_decision(t: ReactorTest) -> None:
    for _ in range(3):
        assert await t.mutation("limited:status", {"email": "a@x.org"}) == {
            "ok": True, "retryAfter": 0.0}
    status = await t.mutation("limited:status", {"email": "a@x.org"})
    assert status["ok"] is False and status["retryAfter"] == pytest.approx(20.0)
    await t.mutation("limited:reset", {"email": "a@x.org"})
    assert (await t.mutation("limited:status", {"email": "a@x.org"}))["ok"] is True


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "", "key": None, "rate": 1, "period": 1, "count": 1}, "name must be a string"),
    ({"name": "n", "key": 5, "rate": 1, "period": 1, "count": 1}, "key must be a string"),
    ({"name": "n", "key": "k" * 2000, "rate": 1, "period": 1, "count": 1},
     "at most 1024 characters"),
    ({"name": "n", "key": None, "rate": 0, "period": 1, "count": 1}, "rate must be a positive"),
    ({"name": "n", "key": None, "rate": 1, "period": -5, "count": 1},
     "period must be a positive timedelta"),
    ({"name": "n", "key": None, "rate": 1, "period": 1, "count": 0}, "count must be a positive"),
    ({"name": "n", "key": None, "rate": 2, "period": 1, "count": 3},
     "count 3 exceeds the bucket's capacity 2"),
])
async def test_bad_arguments_get_a_clear_error(t: ReactorTest, args: dict[str, Any],
                                               message: str) -> None:
    with pytest.raises(FunctionError, match=message) as caught:
        await t.mutation("limited:custom", args)
    assert caught.value.code == "InvalidValue"


async def test_a_query_cannot_take_tokens(t: ReactorTest) -> None:
    with pytest.raises(FunctionError, match="only available in mutations and actions") as caught:
        await t.query("limited:in_query")
    assert caught.value.code == "NotAllowed"


async def test_refilled_buckets_are_deleted_by_housekeeping(t: ReactorTest) -> None:
    for n in range(5):
        await t.mutation("limited:sign_in", {"email": f"{n}@x.org"})
    await t.mutation("limited:sign_in", {"email": "busy@x.org"})
    await t.mutation("limited:sign_in", {"email": "busy@x.org"})
    assert len(await stored_buckets(t)) == 6
    # One token takes 20 s to come back: the single-use buckets are full, "busy" is not.
    advance(t, 20)
    await t.engine.scheduler.prune()
    assert [b["key"] for b in await stored_buckets(t)] == ["busy@x.org"]
    # Deleting a full bucket changed nothing: it still holds 2 of 3 tokens.
    assert await t.mutation("limited:sign_in", {"email": "busy@x.org"}) == "ok"
    assert await t.mutation("limited:sign_in", {"email": "busy@x.org"}) == "ok"
    await refused(t, "limited:sign_in", {"email": "busy@x.org"})


@settings(max_examples=200, deadline=None)
@given(rate=st.integers(1, 20), period=st.floats(0.5, 100), capacity=st.integers(1, 40),
       steps=st.lists(st.tuples(st.floats(0, 50), st.integers(1, 5)), max_size=60))
def test_a_bucket_never_grants_more_than_its_capacity_and_refill(
        rate: int, period: float, capacity: int, steps: list[tuple[float, int]]) -> None:
    """Over any run, granted ≤ capacity + rate × elapsed / period; a refusal's
    retry_after is exact: after waiting that long, the same take succeeds."""
    policy = BucketPolicy.of("test", rate, period, capacity)
    tokens, counted, now, granted = float(capacity), 0.0, 0.0, 0
    for wait, count in steps:
        now += wait
        taken = take(policy, tokens, counted, now, count)
        if taken.ok:
            granted += count
            tokens, counted = taken.tokens, now
            assert taken.tokens >= 0
        elif count <= capacity:
            later = take(policy, tokens, counted, now + taken.retry_after_s + 1e-9, count)
            assert later.ok
            assert not take(policy, tokens, counted,
                            now + taken.retry_after_s * 0.99 - 1e-9, count).ok
        assert granted <= capacity + rate * now / period + 1e-6
