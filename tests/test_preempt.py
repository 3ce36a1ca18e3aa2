"""Preempting user code (reactor/runtime/preempt.py) around the garbage collector: the
finalizers a collection runs are not cut in half, and a finalizer that spins does not
keep the code from being stopped."""

from __future__ import annotations

import faulthandler
import gc
import os
import sys
import threading
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


@pytest.fixture
def big_heap() -> Iterator[None]:
    """As many objects as a long test run leaves behind: a full collection then takes
    longer than the timer's repeat, so most signals arrive while it runs."""
    heap = [[i] for i in range(400_000)]
    started = time.perf_counter()
    gc.collect()
    assert time.perf_counter() - started > 0.002
    yield
    del heap


@pytest.fixture(autouse=True)
def installed(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Preemption on; a handler that is never stopped ends the test run, with every
    thread's stack printed past pytest's capture, instead of hanging it."""
    assert preempt.install(), "pytest runs tests on the main thread, where signals arrive"

    def give_up() -> None:
        with capsys.disabled():
            print("\ntest_preempt: a handler was not stopped in 60 s", file=sys.stderr)
            faulthandler.dump_traceback(all_threads=True)
        os._exit(1)

    watchdog = threading.Timer(60, give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


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


@pytest.mark.parametrize("heap", ["small", "big"])
async def test_callbacks_of_gc_run_whole(unraisable: list[Any], heap: str,
                                         request: pytest.FixtureRequest) -> None:
    """A library's callback in `gc.callbacks` (hypothesis times collections so), at the
    start and the end of each collection, before and after ours in the list; with a big
    heap the code spends nearly all its time collecting."""
    if heap == "big":
        request.getfixturevalue("big_heap")
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


@pytest.mark.usefixtures("big_heap")
async def test_code_that_only_collects_is_stopped() -> None:
    """Each turn is a microsecond of the user's code between long collections, so the
    timer nearly always fires inside one; the code is still stopped, promptly."""
    async def handler() -> None:
        while True:
            gc.collect()

    for _ in range(3):
        started = time.monotonic()
        with pytest.raises(Preempted):
            await drive(handler(), Budget(limit_s=0.05))
        assert time.monotonic() - started < 5


async def test_a_profiler_running_before_is_running_after() -> None:
    """The hook that stands in for the timer during a collection hands the profile
    function back when the step ends."""
    events: list[str] = []

    def profiler(frame: Any, event: str, arg: Any) -> None:
        events.append(event)

    async def handler() -> None:
        while True:
            for _ in range(4):
                Finalized([], 0.001)
            gc.collect()

    sys.setprofile(profiler)
    try:
        with pytest.raises(Preempted):
            await drive(handler(), Budget(limit_s=0.05))
        assert sys.getprofile() is profiler
    finally:
        sys.setprofile(None)
