"""Limits of the runtime beyond transactions, each at the limit and one past it, through
ReactorTest: the action timeout and concurrency, environment variable names and values."""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from reactor.errors import ReactorError
from reactor.runtime import Outcome
from reactor.testing import ReactorTest


def _refused(outcome: Outcome, code: str, message: str) -> None:
    assert outcome.error is not None, outcome.value
    assert (outcome.error.code, outcome.error.summary) == (code, message)


async def action_timeout(t: ReactorTest) -> None:
    """600 s by default (see the catalogue's defaults test); 0.3 s here, through
    Engine(action_timeout_s)."""
    assert (await t.engine.run_action("calls:wait", {"seconds": 0.1})).ok
    _refused(await t.engine.run_action("calls:wait", {"seconds": 0.6}),
             "ActionTimeout", "calls:wait: action ran longer than its 0.3 s timeout")


async def action_step(t: ReactorTest) -> None:
    """1 s of an action's own code between two awaits: 0.8 s passes, spinning on does not."""
    assert (await t.engine.run_action("runaway:busy_action", {"seconds": 0.8})).ok
    outcome = await t.engine.run_action("runaway:spin_action", {})
    assert outcome.error is not None and outcome.error.code == "UserTimeExceeded"
    assert re.fullmatch(r"runaway:spin_action: action ran its own code for 1\.\d\d s without"
                        r" awaiting; the limit is 1 s per step \(the server serves every other"
                        r" client on the same thread: split the work, or await between parts\)",
                        outcome.error.summary), outcome.error.message


async def concurrent_actions(t: ReactorTest) -> None:
    """64 run at once; the 65th waits for a free slot, so that batch takes twice as long."""
    for count in (64, 65):
        started = time.monotonic()
        outcomes = await asyncio.gather(*(t.engine.run_action("calls:wait", {"seconds": 0.3})
                                          for _ in range(count)))
        elapsed = time.monotonic() - started
        assert max(outcome.unwrap() for outcome in outcomes) == 64
        if count == 65:
            assert elapsed >= 0.6, elapsed


async def environment_name(t: ReactorTest) -> None:
    await t.environment.set("N" * 40, "x")
    with pytest.raises(ReactorError) as refused:
        await t.environment.set("N" * 41, "x")
    assert (refused.value.code, refused.value.message) == (
        "InvalidEnvironmentVariable", f"environment variable name '{'N' * 41}': expected a"
        " letter or _ then letters, digits or _ (at most 40 characters)")


async def environment_value(t: ReactorTest) -> None:
    await t.environment.set("V", "x" * 8_192)
    with pytest.raises(ReactorError) as refused:
        await t.environment.set("V", "x" * 8_193)
    assert (refused.value.code, refused.value.message) == (
        "InvalidEnvironmentVariable",
        "environment variable V: value of 8193 bytes exceeds the limit of 8192 bytes")
