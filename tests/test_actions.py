"""Actions: nested calls, logs and errors reaching the caller, timeout, concurrency, outside I/O."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from reactor import FunctionError
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "scheduler"


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP) as test:
        yield test


async def test_an_action_calling_a_mutation_sees_its_own_write(t: ReactorTest) -> None:
    assert await t.action("actions:write_then_read", {"name": "w"}) == {"written": 1,
                                                                        "read": 1}
    assert await t.action("actions:write_then_read", {"name": "w"}) == {"written": 2,
                                                                        "read": 2}


async def test_log_lines_of_nested_calls_reach_the_caller_in_order(t: ReactorTest) -> None:
    outcome = await t.engine.run_action("actions:chatty", {},
                                        {"subject": "alice", "tokenIdentifier": "x|alice"})
    assert outcome.ok
    assert outcome.value == "alice", "nested calls act for the action's caller"
    assert outcome.log_lines == ["[LOG] action says hi", "[INFO] action logs info",
                                 "[LOG] inner action says hi", "[LOG] query says hi"]


async def test_a_nested_error_reaches_the_caller_with_its_data(t: ReactorTest) -> None:
    outcome = await t.engine.run_action("actions:calls_failing_mutation", {})
    assert outcome.error is not None
    assert outcome.error.is_app_error
    assert outcome.error.data == {"code": "Exploded"}
    assert outcome.error.summary == "Uncaught ConvexError: the job exploded"
    assert outcome.log_lines == ["[LOG] about to explode"]
    with pytest.raises(FunctionError, match="the job exploded"):
        await t.action("actions:calls_failing_mutation", {})


async def test_actions_time_out(tmp_path: Path) -> None:
    async with ReactorTest(APP, action_timeout_s=0.2) as t:
        assert await t.action("actions:sleepy", {"seconds": 0}) == "woke"
        with pytest.raises(FunctionError, match=r"longer than its 0\.2 s timeout") as caught:
            await t.action("actions:sleepy", {"seconds": 5})
        assert caught.value.code == "ActionTimeout"


async def test_at_most_max_concurrent_actions_run_at_once(tmp_path: Path) -> None:
    async with ReactorTest(APP, max_concurrent_actions=2) as t:
        await asyncio.gather(*(t.action("actions:busy", {}) for _ in range(6)))
        module = t.engine.app.module("actions")
        assert module is not None
        assert module.load == {"now": 0, "peak": 2}


async def test_nested_actions_do_not_deadlock_on_the_limit(tmp_path: Path) -> None:
    async with ReactorTest(APP, max_concurrent_actions=1) as t:
        results = await asyncio.gather(*(t.action("actions:nest", {"depth": 3})
                                         for _ in range(3)))
        assert results == [3, 3, 3]


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        time.sleep(1.0)
        body = b"pong"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping"
    finally:
        server.shutdown()
        server.server_close()


async def test_outside_http_does_not_block_other_calls(t: ReactorTest, slow_server: str) -> None:
    fetching = asyncio.create_task(t.action("actions:fetch", {"url": slow_server}))
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    assert await t.mutation("jobs:touch", {"name": "meanwhile"}) == 1
    assert time.perf_counter() - started < 0.6
    assert not fetching.done(), "the mutation had to wait for the HTTP call"
    assert await fetching == "pong"
