"""The one thread that owns SQLite's writer connection, and the hop to it from the loop.

Every commit batch is one hop, so its cost is paid per batch on the event loop. A
`ThreadPoolExecutor` hop (`run_in_executor`) goes through two futures chained across
threads, a condition variable, shutdown locks and an idle-thread semaphore; this one
is a queue put, and one `call_soon_threadsafe` back (measured on a 2-core VM, noop
round trips: 62-91 us of process CPU each through the executor, 28-35 us here). The
thread also runs less Python around each call, so it takes the GIL from the loop less.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class WriterThread:
    """Runs functions one after another, in the order given, on one daemon thread."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on the thread. Cancelling the caller does not stop a call that started;
        one still queued is skipped (as `run_in_executor` does)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((fn, loop, future))
        return await future

    def shutdown(self) -> None:
        """Run what is queued, then end the thread (blocks until it has)."""
        self._jobs.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            _run(*job)
            del job  # nothing of a finished call is kept while the thread waits


def _run(fn: Callable[[], Any], loop: asyncio.AbstractEventLoop,
         future: asyncio.Future[Any]) -> None:
    # Read across threads: a C future's state is one field, read under the GIL. A caller
    # cancelled after this check sees its call run to the end anyway.
    if future.cancelled():
        return
    try:
        result = fn()
    except BaseException as error:  # handed to the caller, as an executor does
        _answer(loop, _fail, future, error)
    else:
        _answer(loop, _succeed, future, result)


def _answer(loop: asyncio.AbstractEventLoop, settle: Callable[[asyncio.Future[Any], Any], None],
            future: asyncio.Future[Any], value: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed: nobody is left to answer
        loop.call_soon_threadsafe(settle, future, value)


def _succeed(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
