"""Convex compatibility: what apps written for Convex match on, seen through the official
client (Node, against a real `reactor serve`) or in-process where that is the natural level."""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from e2e_support import NODE_DIR, ReactorServer, run_node
from sync_support import NodeProcess, ProtocolClient, http_json

from reactor.runtime import Engine
from reactor.values.render import error_data_text, render_number

APP = Path(__file__).parent / "apps" / "sync"
PUBLIC_URL = "https://reactor.example.test"
ACTION_TIMEOUT_S = 1.5
ENV = {"SYNC_TEST_HS256_SECRET": "hs256-test-secret-" + "x" * 32,
       "REACTOR_PUBLIC_URL": PUBLIC_URL, "REACTOR_ACTION_TIMEOUT_S": str(ACTION_TIMEOUT_S)}
SERVER_ERROR = re.compile(r"\[Request ID: ([0-9a-f]{16})\] Server Error\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, node_modules: Path) -> Iterator[ReactorServer]:
    with ReactorServer(APP, tmp_path_factory.mktemp("compat-data"), env=ENV) as running:
        yield running


def node(script: str, *args: str) -> Any:
    return run_node(NODE_DIR / script, *args, timeout=60)


def request_id(message: str) -> str:
    """The request id of a client-side message (the client prefixes `[CONVEX M(path)] `)."""
    found = SERVER_ERROR.search(message)
    assert found is not None, message
    return found.group(1)


def after_id(message: str) -> str:
    """What follows the request id line, without the client's `Called by client` tail."""
    text = message[SERVER_ERROR.search(message).end():]  # type: ignore[union-attr]
    return text.removesuffix("\n  Called by client")


def test_error_messages_and_data_through_the_official_client(server: ReactorServer) -> None:
    r = node("compat_errors.mjs", server.url, uuid.uuid4().hex[:10])

    for key in ("missing", "missingMutation", "internal"):
        message = r[key]["error"]["message"]
        path = "counter:reset" if key == "internal" else "compat:nope"
        assert f"Could not find public function for '{path}'" in message
        assert after_id(message).startswith(f"Could not find public function for '{path}'. ")
        assert r[key]["error"]["isConvexError"] is False

    # Argument validation: Convex's first line and path, then Reactor's explanation; numbers
    # print as JavaScript does.
    assert after_id(r["subscribed"]["message"]) == (
        "ArgumentValidationError: Value does not match validator.\nPath: .name\n"
        "compat:typed: args.name: expected string, got 12")
    assert after_id(r["argsWs"]["error"]["message"]).endswith(
        "Path: .kind\ncompat:app_error: args.kind: expected string, got 12")
    assert after_id(r["argsHttp"]["error"]["message"]).startswith(
        "ArgumentValidationError: Value does not match validator.\nPath: .extra\n")
    assert "Path: .name\n" in r["missingArg"]["error"]["message"]
    assert after_id(r["returns"]["error"]["message"]) == (
        "ReturnsValidationError: Value does not match validator.\nPath: .n\n"
        "compat:bad_returns: returns.n: expected string, got 5")

    # ConvexError: message as the client prints data, data exact (order, int64, nesting).
    expected_text = '{"zeta":1,"alpha":[1.5,"123n",null],"nested":{"b":true,"a":"x"}}'
    for key in ("appWs", "appHttp", "appThroughAction", "appThroughActionHttp"):
        error = r[key]["error"]
        assert error["isConvexError"] is True, key
        assert after_id(error["message"]) == f"Uncaught ConvexError: {expected_text}", key
        assert error["data"]["nested"] == {"b": True, "a": "x"}
        assert error["keys"] == ["zeta", "alpha", "nested"]
        assert error["data"]["alpha"] == [1.5, "bigint:123", None]
        assert error["data"]["zeta"] == 1
    assert r["appText"]["error"]["data"] == "plain words"
    assert after_id(r["appText"]["error"]["message"]) == "Uncaught ConvexError: plain words"

    # An uncaught exception: its class and message, no traceback, the id in the server log.
    for key in ("crash", "crashHttp"):
        message = r[key]["error"]["message"]
        assert after_id(message) == "Uncaught RuntimeError: kaboom"
        assert "Traceback" not in message and ".py" not in message
        assert f"[Request ID: {request_id(message)}] compat:crash" in server.log()
    assert request_id(r["crash"]["error"]["message"]) != request_id(
        r["crashHttp"]["error"]["message"])

    # ctx.db.system.get with an id of an app table raises, as in Convex.
    assert "is an id of the app table \"counters\"" in r["systemGet"]["error"]["message"]


def test_api_function_env_urls_and_the_action_timeout(server: ReactorServer) -> None:
    now = int(time.time())
    secret = ENV["SYNC_TEST_HS256_SECRET"]
    expired = jwt.encode({"iss": "https://hs256.test", "aud": "sync-tests", "sub": "u",
                          "iat": now - 600, "exp": now - 300}, secret, algorithm="HS256")
    foreign = jwt.encode({"iss": "https://elsewhere.test", "aud": "x", "sub": "u",
                          "exp": now + 300}, secret, algorithm="HS256")
    r = node("compat_endpoints.mjs", server.url, uuid.uuid4().hex[:10], expired, foreign)
    # POST /api/function runs any kind of public function, args as a bare object.
    assert r["fnMutation"] == {"value": 2} and r["fnQuery"] == {"value": 2}
    assert r["fnAction"] == {"value": {"echo": "hi"}}
    assert r["fnAppError"]["error"]["data"] == "plain words"
    assert after_id(r["fnMissing"]["error"]["message"]).startswith(
        "Could not find public function for 'compat:nope'")
    assert "Could not find public function for 'counter:reset'" in (
        r["fnInternal"]["error"]["message"])
    assert "ComponentNotFound" in r["fnComponent"]["error"]["message"]
    # The deployment's URLs, under Convex's names, in queries (a worker process) and actions.
    urls = {"cloud": PUBLIC_URL, "site": f"{PUBLIC_URL}/http"}
    assert r["urls"] == {"value": urls} and r["actionUrls"] == {"value": urls}
    # An action awaiting what never happens fails at the deployment's timeout; the
    # server goes on serving.
    assert after_id(r["hang"]["error"]["message"]) == (
        f"compat:hang: action ran longer than its {ACTION_TIMEOUT_S:g} s timeout")
    assert ACTION_TIMEOUT_S * 1000 <= r["hangMs"] < ACTION_TIMEOUT_S * 1000 + 3000
    assert r["afterHang"] == {"value": 2}
    # Refused tokens carry Convex's codes; the configured providers are listed.
    expired_error = json.loads(r["expired"]["error"]["message"])
    assert expired_error["code"] == "InvalidAuthHeader"
    assert expired_error["message"].startswith("token expired")
    foreign_error = json.loads(r["foreign"]["error"]["message"])
    assert foreign_error["code"] == "NoAuthProvider"
    assert "issuer 'https://hs256.test' (application ID 'sync-tests')" in (
        foreign_error["message"])


async def test_write_conflicts_that_exhaust_retries_say_so(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path, durability="normal") as engine:
        await engine.run_mutation("compat:new_counter", {"name": "hot"})
        module = engine.app.module("compat")
        assert module is not None

        async def interfere(name: str) -> None:
            (await engine.run_mutation("counter:incr", {"name": name})).unwrap()

        module.hooks["interfere"] = interfere
        outcome = await engine.run_mutation("compat:contended", {"name": "hot"})
    assert outcome.error is not None and outcome.attempts == 20
    assert outcome.error.code == "OptimisticConcurrency"
    assert outcome.error.summary.startswith("OptimisticConcurrencyControlFailure: compat:contended")


@pytest.mark.parametrize(("value", "text"), [
    (123.0, "123"), (-2.5, "-2.5"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
    (1.5e-7, "1.5e-7"), (1e-6, "0.000001"), (0.1, "0.1"), (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"), (float("nan"), "NaN"),
    (float("-inf"), "-Infinity"),
])
def test_numbers_print_as_javascript_prints_them(value: float, text: str) -> None:
    assert render_number(value) == text


def test_error_data_prints_as_the_official_client_prints_it() -> None:
    from reactor.values import Int64
    assert error_data_text({"b": 1.0, "10": 2.0, "2": None, "a": [Int64(-5), b"\x00"]}) == (
        '{"2":null,"10":2,"b":1,"a":["-5n",{}]}')
    assert error_data_text(float("nan")) == "null" and error_data_text(-0.0) == "0"
    assert error_data_text("as is") == "as is"
    long = error_data_text(["x" * 20_000])
    assert len(long) == 16_384 and long.endswith("[...truncated]")


def test_numbers_print_as_node_prints_them(node_modules: Path) -> None:
    """Node itself is the oracle: 3,000 doubles from every range of exponents."""
    rng = random.Random(20)
    values = [struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
              for _ in range(2_000)]
    values += [rng.uniform(-1e6, 1e6) for _ in range(500)]
    values += [float(rng.randint(-10**17, 10**17)) for _ in range(500)]
    values = [x for x in values if math.isfinite(x)]
    script = ("const xs = JSON.parse(process.argv[2]);"
              "console.log(JSON.stringify(xs.map((x) => String(x))));")
    expected = run_node(script + "\n", json.dumps(values))
    assert [render_number(x) if x != 0 else "0" for x in values] == expected


def test_sigterm_stops_the_server_in_bounded_time_while_actions_hang(
        tmp_path: Path, node_modules: Path) -> None:
    """In flight at SIGTERM: a scheduled action, two client actions awaiting forever, a
    mutation; the server answers them (actions stopped, the mutation finished), closes
    sockets with 1001 going away and exits 0 well within REACTOR_SHUTDOWN_TIMEOUT_S."""
    counter = uuid.uuid4().hex[:10]
    env = {**ENV, "REACTOR_ACTION_TIMEOUT_S": "600", "REACTOR_SHUTDOWN_TIMEOUT_S": "10"}
    server = ReactorServer(APP, tmp_path / "data", env=env).start()
    try:
        _, body = http_json(f"{server.url}/api/mutation",
                            {"path": "compat:schedule_hang", "args": [{}]})
        job_id = body["value"]
        deadline = time.monotonic() + 10
        while job_state(server, job_id)["kind"] != "inProgress":
            assert time.monotonic() < deadline, job_state(server, job_id)
            time.sleep(0.05)
        script = NodeProcess(NODE_DIR / "compat_shutdown.mjs", server.url, counter)
        try:
            script.wait_line("fired")
            opened, closes = threading.Event(), []
            idle = threading.Thread(target=lambda: asyncio.run(
                idle_until_closed(server.url, opened, closes)))
            idle.start()
            assert opened.wait(10)
            started = time.monotonic()
            assert server.stop(timeout=20) == 0
            elapsed = time.monotonic() - started
            result = script.result(timeout=30)
        finally:
            script.kill()
        assert elapsed < 10, elapsed
        idle.join(10)
        assert closes == [1001]
        stopped = "the server is shutting down: the action was stopped before it finished"
        assert stopped in result["wsAction"]["error"]
        assert stopped in result["httpAction"]["error"]
        assert isinstance(result["mutation"]["value"], str)  # committed, and answered
        assert "shutting down: 3 running actions stopped" in server.log()
        server.start()
        # The scheduled action was recorded as failed, with the reason.
        state = job_state(server, job_id)
        assert state["kind"] == "failed" and stopped in state["error"]
        _, doc = http_json(f"{server.url}/api/query",
                           {"path": "counter:get", "args": [{"name": counter}]})
        assert doc["value"] == 1
    finally:
        server.stop()


def job_state(server: ReactorServer, job_id: str) -> dict[str, Any]:
    _, body = http_json(f"{server.url}/api/query", {"path": "compat:job",
                                                    "args": [{"jobId": job_id}]})
    state: dict[str, Any] = body["value"]["state"]
    return state


async def idle_until_closed(url: str, opened: threading.Event,
                            closes: list[int | None]) -> None:
    """A client holding one query, until the server closes its socket (the code kept)."""
    client = ProtocolClient(url)
    await client.open()
    await client.add({0: ("counter:get", {"name": "idle"})})
    opened.set()
    closes.append((await client.closed(timeout=15)).code)


async def test_nested_calls_are_sub_transactions(tmp_path: Path) -> None:
    """ctx.run_mutation / ctx.run_query inside mutations and queries: a failing nested
    mutation is rolled back alone and can be caught; nested reads keep the caller live."""
    async with Engine(APP, tmp_path, durability="normal") as engine:
        async def value(name: str) -> Any:
            return (await engine.run_query("nested:value", {"name": name})).unwrap()

        result = (await engine.run_mutation("nested:outer", {"name": "a"})).unwrap()
        assert result == {"caught": {"code": "Inner", "name": "a-failed"}, "seen": 1}
        assert (await value("a-outer"), await value("a-kept"), await value("a-failed")) == (
            1, 1, None)

        failed = await engine.run_mutation("nested:outer_uncaught", {"name": "b"})
        assert failed.error is not None and failed.error.data == {"code": "Inner",
                                                                  "name": "b-failed"}
        assert await value("b-outer") is None and await value("b-failed") is None

        too_deep = await engine.run_mutation("nested:recurse", {"name": "c"})
        assert too_deep.error is not None and too_deep.error.code == "TooDeep"

        async with engine.subscribe("nested:value_via_query", {"name": "live"}) as live:
            assert await live.next(timeout=10) is None
            (await engine.run_mutation("nested:put", {"name": "live", "fail": False})).unwrap()
            assert await live.next(timeout=10) == 1


async def test_a_server_at_capacity_answers_overloaded(tmp_path: Path) -> None:
    """Every action slot taken and the queue full: a new action fails at once, with an
    error of its own that says to retry; the queued one still runs when a slot frees."""
    async with Engine(APP, tmp_path, durability="normal", action_timeout_s=1.0,
                      max_concurrent_actions=1, max_queued_actions=1) as engine:
        running = asyncio.ensure_future(engine.run_action("compat:hang", {}))
        await asyncio.sleep(0.1)
        queued = asyncio.ensure_future(engine.run_action("errors:echo", {"text": "later"}))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        refused = await engine.run_action("errors:echo", {"text": "now"})
        assert time.monotonic() - started < 0.5
        assert refused.error is not None and refused.error.code == "Overloaded"
        assert refused.error.summary == (
            "errors:echo: Overloaded: the server is running its 1 actions at once and 1 more"
            " wait for a slot; retry later")
        assert (await running).error.code == "ActionTimeout"  # type: ignore[union-attr]
        assert (await queued).unwrap() == {"echo": "later"}
