"""Caps on scheduling: jobs per call, and pending jobs per signed-in identity."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reactor import FunctionError
from reactor.runtime.system.scheduled_functions import (
    MAX_JOBS_PER_CALL,
    MAX_PENDING_PER_IDENTITY,
    PENDING,
    SCHEDULED_FUNCTIONS,
)
from reactor.runtime.system.transact import read
from reactor.testing import ReactorTest
from reactor.transactions import QueryBuilder

APP = Path(__file__).parent / "apps" / "ratelimit"


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP) as test:
        yield test


async def pending(t: ReactorTest) -> int:
    jobs = await read(t.engine.database,
                      lambda txn: QueryBuilder(txn, SCHEDULED_FUNCTIONS).collect())
    return sum(job["state"]["kind"] == PENDING for job in jobs)


async def test_a_mutation_schedules_at_most_the_cap_and_past_it_nothing(t: ReactorTest) -> None:
    assert len(await t.mutation("jobs:schedule_many", {"count": MAX_JOBS_PER_CALL})) == 1000
    with pytest.raises(FunctionError) as caught:
        await t.mutation("jobs:schedule_many", {"count": MAX_JOBS_PER_CALL + 1})
    assert caught.value.code == "TooManyScheduledJobs"
    assert "at most 1000 jobs per call" in caught.value.message
    assert await pending(t) == MAX_JOBS_PER_CALL


async def test_an_action_schedules_at_most_the_cap(t: ReactorTest) -> None:
    with pytest.raises(FunctionError) as caught:
        await t.action("jobs:schedule_many_from_action", {"count": MAX_JOBS_PER_CALL + 5})
    assert caught.value.code == "TooManyScheduledJobs"
    # Each of an action's jobs commits on its own: the first thousand exist.
    assert await pending(t) == MAX_JOBS_PER_CALL


async def test_a_signed_in_user_has_at_most_the_cap_pending(t: ReactorTest) -> None:
    alice, bob = t.with_identity("alice"), t.with_identity("bob")
    first = await alice.mutation("jobs:schedule_many", {"count": 600})
    await alice.mutation("jobs:schedule_many", {"count": MAX_PENDING_PER_IDENTITY - 600})
    with pytest.raises(FunctionError) as caught:
        await alice.mutation("jobs:schedule_many", {"count": 1})
    assert caught.value.code == "TooManyPendingJobs"
    with pytest.raises(FunctionError, match="scheduled jobs waiting to run"):
        await alice.action("jobs:schedule_many_from_action", {"count": 1})
    # Others are not affected; anonymous calls are bounded per call only.
    assert len(await bob.mutation("jobs:schedule_many", {"count": 10})) == 10
    for _ in range(2):
        await t.mutation("jobs:schedule_many", {"count": 600})
    # A job that leaves the pending state frees a place.
    await alice.mutation("jobs:cancel", {"job": first[0]})
    assert len(await alice.mutation("jobs:schedule_many", {"count": 1})) == 1
