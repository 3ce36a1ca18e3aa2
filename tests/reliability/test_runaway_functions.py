"""Functions that never finish on their own are stopped at their limits, and the server
keeps serving everyone else meanwhile.

The attack: a query, a mutation and an action that spin in pure Python forever, and a
query running a catastrophic regular expression (exponential backtracking inside the
C regex engine). Each must be stopped at its limit — 1 s of the function's own code
for queries and mutations, 1 s of code without awaiting for actions — with
`UserTimeExceeded` and a message naming the function, through a real server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from e2e_support import ReactorServer
from server_probe import LIMITS_APP, healthy
from sync_support import http_json

from reactor.runtime import FunctionKind
from reactor.testing import ReactorTest

USER_TIME = r"function ran for 1\.\d\d s of its own code; the limit is 1 s"
ACTION_STEP = (r"action ran its own code for 1\.\d\d s without awaiting; the limit is 1 s"
               " per step")
RUNAWAYS = [
    ("query", "runaway:spin_query", {}, USER_TIME),
    ("mutation", "runaway:spin_mutation", {}, USER_TIME),
    ("action", "runaway:spin_action", {}, ACTION_STEP),
    ("query", "runaway:regex", {"length": 60.0}, USER_TIME),
]
# Generous: the limit is 1 s; a stop "at the limit" on a loaded machine lands well inside.
STOPPED_WITHIN_S = 6.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(LIMITS_APP, tmp_path_factory.mktemp("runaway-data")) as running:
        yield running


@pytest.mark.parametrize(("kind", "path", "args", "message"), RUNAWAYS,
                         ids=[r[1] for r in RUNAWAYS])
def test_runaway_function_is_stopped_at_its_limit(server: ReactorServer, kind: str, path: str,
                                                  args: dict[str, float],
                                                  message: str) -> None:
    started = time.monotonic()
    status, body = http_json(f"{server.url}/api/{kind}",
                             {"path": path, "args": args, "format": "json"})
    elapsed = time.monotonic() - started
    assert status == 200, body
    assert body["status"] == "error", body
    assert re.match(rf"\[Request ID: [0-9a-f]{{16}}\] Server Error\n{re.escape(path)}: {message}",
                    body["errorMessage"]), body
    assert 0.9 <= elapsed < STOPPED_WITHIN_S, elapsed
    assert healthy(server)


def test_a_stopped_mutation_commits_nothing(server: ReactorServer) -> None:
    count = {"path": "txn:scan", "args": {"n": 1000.0}, "format": "json"}
    _, before = http_json(f"{server.url}/api/query", count)
    status, body = http_json(f"{server.url}/api/mutation",
                             {"path": "runaway:spin_mutation", "args": {}, "format": "json"})
    assert (status, body["status"]) == (200, "error"), body
    _, after = http_json(f"{server.url}/api/query", count)
    assert after["value"] == before["value"], (before, after)


def test_the_regex_itself_works_on_small_inputs(server: ReactorServer) -> None:
    status, body = http_json(f"{server.url}/api/query", {
        "path": "runaway:regex", "args": {"length": 10.0}, "format": "json"})
    assert (status, body["status"], body["value"]) == (200, "success", False), body


@pytest.mark.parametrize(("kind", "path", "args", "message"), RUNAWAYS,
                         ids=[r[1] for r in RUNAWAYS])
async def test_runaway_functions_fail_with_user_time_exceeded(kind: str, path: str,
                                                              args: dict[str, float],
                                                              message: str) -> None:
    """In-process, where the error code is visible (the HTTP API sends only the message)."""
    async with ReactorTest(LIMITS_APP) as t:
        outcome = await t.engine.call(FunctionKind(kind), path, args)
        assert outcome.error is not None, outcome.value
        assert outcome.error.code == "UserTimeExceeded"
        assert re.match(f"{re.escape(path)}: {message}", outcome.error.summary)
