"""Preempting user code (reactor/runtime/preempt.py) around the garbage collector: the
finalizers a collection runs are not cut in half, and a finalizer that spins does not
keep the code from being stopped."""

from __future__ import annotations

import faulthandler
import gc
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from reactor.runtime import preempt
from reactor.runtime.preempt import Budget, Preempted, drive


def spin(seconds: float) -> None:
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass


class Finalized:
    """Part of a reference cycle, so only a collection frees it; its finalizer takes a
    while and records that it started and that it finished."""

    def __init__(self, log: list[str], seconds: float) -> None:
        self.log = log
        self.seconds = seconds
        self.me = self

    def __del__(self) -> None:
        self.log.append("started")
        spin(self.seconds)
        self.log.append("finished")


@pytest.fixture
def unraisable() -> Iterator[list[Any]]:
    """What finalizers raised that Python could only print and drop."""
    seen: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        yield seen
    finally:
        sys.unraisablehook = previous


@pytest.fixture(autouse=True)
def installed() -> Iterator[None]:
    """Preemption on; a handler that is never stopped ends the test run (with every
    thread's stack) instead of hanging it."""
    assert preempt.install(), "pytest runs tests on the main thread, where signals arrive"
    faulthandler.dump_traceback_later(60, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


async def test_finalizers_run_whole_and_the_code_is_still_stopped(
        unraisable: list[Any]) -> None:
    """The handler spends four fifths of its time in finalizers, so unguarded the timer
    would fire inside one in most of the runs; each run is still stopped."""
    log: list[str] = []

    async def handler() -> None:
        while True:
            for _ in range(4):
                Finalized(log, 0.001)
            gc.collect()
            spin(0.001)

    for _ in range(8):
        started = time.monotonic()
        with pytest.raises(Preempted):
            await drive(handler(), Budget(limit_s=0.05))
        assert time.monotonic() - started < 5
    assert log.count("started") == log.count("finished") > 0
    assert [u for u in unraisable if isinstance(u.exc_value, Preempted)] == []


async def test_callbacks_of_gc_run_whole(unraisable: list[Any]) -> None:
    """A library's callback in `gc.callbacks` (hypothesis times collections so), at the
    start and the end of each collection, before and after ours in the list."""
    log: list[str] = []

    def timing(phase: str, info: dict[str, int]) -> None:
        log.append("started")
        spin(0.001)
        log.append("finished")

    async def handler() -> None:
        while True:
            gc.collect()
            spin(0.0005)

    gc.callbacks.insert(0, timing)
    gc.callbacks.append(timing)
    try:
        for _ in range(8):
            with pytest.raises(Preempted):
                await drive(handler(), Budget(limit_s=0.05))
    finally:
        gc.callbacks.remove(timing)
        gc.callbacks.remove(timing)
    assert log.count("started") == log.count("finished") > 0
    assert [u for u in unraisable if isinstance(u.exc_value, Preempted)] == []


async def test_a_finalizer_that_spins_is_stopped_after_the_grace(
        unraisable: list[Any]) -> None:
    log: list[str] = []

    async def handler() -> None:
        Finalized(log, float("inf"))
        gc.collect()
        spin(float("inf"))

    started = time.monotonic()
    with pytest.raises(Preempted):
        await drive(handler(), Budget(limit_s=0.05))
    assert time.monotonic() - started < 5
    assert log == ["started"]  # cut short: the grace ran out inside it
