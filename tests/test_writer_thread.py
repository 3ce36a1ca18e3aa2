"""The writer connection's thread: calls run one at a time, in order, off the loop;
results and errors come back to their callers; a cancelled caller's queued call is
skipped, a started one runs to its end."""

from __future__ import annotations

import asyncio
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.storage.writer_thread import WriterThread


class Boom(Exception):
    pass


async def test_calls_run_in_order_on_one_other_thread() -> None:
    thread = WriterThread("test-writer")
    try:
        seen: list[tuple[int, int]] = []

        def call(n: int) -> int:
            seen.append((n, threading.get_ident()))
            return n * 10

        results = await asyncio.gather(*(thread.run(lambda n=n: call(n)) for n in range(50)))
        assert results == [n * 10 for n in range(50)]
        assert [n for n, _ in seen] == list(range(50))
        idents = {ident for _, ident in seen}
        assert len(idents) == 1 and threading.get_ident() not in idents
    finally:
        thread.shutdown()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(), st.none()), max_size=20))
def test_each_caller_gets_its_own_result_or_error(plan: list[int | None]) -> None:
    """Oracle: the calls made one by one on the caller's thread (None raises)."""

    def call(value: int | None) -> int:
        if value is None:
            raise Boom()
        return value + 1

    async def run_all() -> list[object]:
        thread = WriterThread("test-writer")
        try:
            return await asyncio.gather(*(thread.run(lambda v=v: call(v)) for v in plan),
                                        return_exceptions=True)
        finally:
            thread.shutdown()

    got = asyncio.run(run_all())
    for value, result in zip(plan, got, strict=True):
        if value is None:
            assert isinstance(result, Boom)
        else:
            assert result == value + 1


async def test_a_cancelled_callers_queued_call_is_skipped_a_started_one_finishes() -> None:
    thread = WriterThread("test-writer")
    try:
        started, release = threading.Event(), threading.Event()
        ran: list[str] = []

        def blocking() -> str:
            started.set()
            release.wait(5)
            ran.append("first")
            return "first"

        first = asyncio.ensure_future(thread.run(blocking))
        second = asyncio.ensure_future(thread.run(lambda: ran.append("second")))
        await asyncio.to_thread(started.wait, 5)
        first.cancel()
        second.cancel()
        await asyncio.gather(first, second, return_exceptions=True)
        release.set()
        assert await thread.run(lambda: "after") == "after"
        assert ran == ["first"]
        assert first.cancelled() and second.cancelled()
    finally:
        thread.shutdown()


def test_shutdown_runs_what_is_queued_and_survives_a_closed_loop() -> None:
    thread = WriterThread("test-writer")
    gate = threading.Event()
    ran: list[int] = []
    loop = asyncio.new_event_loop()
    pending = [loop.create_task(thread.run(lambda: gate.wait(5))),
               loop.create_task(thread.run(lambda: ran.append(1)))]
    loop.run_until_complete(asyncio.sleep(0))  # both queued, neither answered yet
    loop.close()  # their answers now have no loop to go to
    gate.set()

    async def still_works() -> int:
        return await asyncio.wait_for(thread.run(lambda: 7), 5)

    assert asyncio.run(still_works()) == 7
    thread.shutdown()
    assert ran == [1]
    assert not thread._thread.is_alive()
    assert not any(task.done() for task in pending)
    for task in pending:  # they can never finish now: asyncio need not report them at exit
        task._log_destroy_pending = False  # type: ignore[attr-defined]
