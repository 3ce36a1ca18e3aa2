"""The bad-input catalogue: every documented limit at the limit (accepted) and one past it
(refused, with its error code and message checked).

Limits a client meets directly go through a live server: argument values over the
HTTP API, per-connection limits over the sync protocol (connection_limits.py, with
small REACTOR_* settings). Limits only the engine enforces go through ReactorTest
in-process, with the documented defaults. The last tests keep this catalogue, the
guide (docs/guide/*.md) and the code's defaults in step.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import connection_limits as conn
import pytest
import runtime_limits as runtime
from documented_limits import (
    DOCUMENTED,
    MIB,
    NOT_LIMIT_ROWS,
    NOT_LIMITS,
    ROW_LIMITS,
    documented_numbers,
    guide_numbers,
    limit_rows,
)
from e2e_support import ReactorServer
from server_probe import LIMITS_APP
from sync_support import http_json

from reactor import define_table, v
from reactor.errors import ReactorError
from reactor.runtime import FunctionError, Outcome
from reactor.runtime.actions import ACTION_STEP_LIMIT_S, DEFAULT_ACTION_TIMEOUT_S
from reactor.runtime.runner import USER_TIME_LIMIT_S
from reactor.server.config import ServerConfig
from reactor.testing import ReactorTest
from reactor.values.model import value_size

# Stored size of {"data": ""} with its _id and _creationTime: data of MIB - this is 1 MiB.
BLOB_OVERHEAD = value_size({"_id": "a" * 36, "_creationTime": 0.0, "data": ""})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReactorServer]:
    with ReactorServer(LIMITS_APP, tmp_path_factory.mktemp("limits-data"),
                       env=conn.SERVER_ENV) as running:
        yield running


def nested(depth: int) -> list[Any]:
    """`depth` levels of arrays: nested(1) is []."""
    return [] if depth <= 1 else [nested(depth - 1)]


def fields(count: int) -> dict[str, float]:
    return {f"f{i}": 0.0 for i in range(count)}


# Arguments: decoded by the server, refused with 400 InvalidValue. The arguments object is
# itself the first level, so a value in it may nest 15 more.
ARGUMENT_CASES: dict[str, tuple[Any, Any, str]] = {
    "nesting": (nested(15), nested(16),
                f"args.value{'[0]' * 15}: value is nested deeper than 16 levels"),
    "array items": ([0] * 8_192, [0] * 8_193,
                    "args.value: array has 8193 items, more than the limit of 8192"),
    "object fields": (fields(1_024), fields(1_025),
                      "args.value: object has 1025 fields, more than the limit of 1024"),
    "nested field name length": ({"k" * 1_024: 1}, {"k" * 1_025: 1},
                                 "args.value: field name of 1025 characters is longer than"
                                 " 1024"),
    "nested field name characters": ({" ~": 1}, {"é": 1},
                                     "args.value: field name 'é' must be printable ASCII"
                                     " (characters 32-126)"),
    "dollar prefix": ({"a$": 1}, {"$a": 1},
                      "args.value: object with keys $a is not a value: field names may not"
                      ' start with \'$\' (only {"$integer"}, {"$float"} and {"$bytes"} are'
                      " special)"),
}


@pytest.mark.parametrize("name", ARGUMENT_CASES)
def test_argument_limits(server: ReactorServer, name: str) -> None:
    at, past, message = ARGUMENT_CASES[name]
    status, body = http_json(f"{server.url}/api/query",
                             {"path": "values:echo", "args": [{"value": at}]})
    assert (status, body["status"]) == (200, "success"), body
    status, body = http_json(f"{server.url}/api/query",
                             {"path": "values:echo", "args": [{"value": past}]})
    assert (status, body) == (400, {"code": "InvalidValue", "message": message})


CONNECTION_CASES: dict[str, Callable[[ReactorServer], Awaitable[None]]] = {
    "message size": conn.message_size,
    "queries per connection": conn.queries_per_connection,
    "in-flight requests": conn.inflight_requests,
    "outbox messages": conn.outbox_messages,
    "send timeout": conn.send_timeout,
    "ping interval": conn.ping_interval,
    "transition chunk": conn.transition_chunk,
    "upload size": conn.upload_size,
    "upload timeout": conn.upload_timeout,
    "uploads per minute": conn.uploads_per_minute,
}


@pytest.mark.parametrize("name", CONNECTION_CASES)
async def test_connection_limits(server: ReactorServer, name: str) -> None:
    await CONNECTION_CASES[name](server)
    status, _ = http_json(f"{server.url}/health", method="GET")
    assert status == 200


# The engine -----------------------------------------------------------------------------

Call = tuple[str, str, dict[str, Any]]  # kind, path, args
Expected = tuple[str, str | re.Pattern[str]]  # code, message (exact, or a pattern)


def store(doc: dict[str, Any]) -> Call:
    return ("mutation", "values:store", {"doc": doc})


def built(shape: str, size: int) -> Call:
    return ("mutation", "values:store_built", {"shape": shape, "size": size})


DOCUMENT_CASES: dict[str, tuple[Call, Call, Expected]] = {
    "document size": (
        store({"data": "x" * (MIB - BLOB_OVERHEAD)}),
        store({"data": "x" * (MIB - BLOB_OVERHEAD + 1)}),
        ("InvalidValue", "values:store: doc: document is 1048577 bytes, more than the limit"
                         " of 1048576")),
    "top-level field name": (
        store({"a" * 64: 1}), store({"a" * 65: 1}),
        ("InvalidValue", f"values:store: doc: top-level field name '{'a' * 65}' must match"
                         " [A-Za-z_][A-Za-z0-9_]* and be at most 64 characters")),
    "top-level field name characters": (
        store({"ok_9": 1}), store({"9ok": 1}),
        ("InvalidValue", "values:store: doc: top-level field name '9ok' must match"
                         " [A-Za-z_][A-Za-z0-9_]* and be at most 64 characters")),
    "reserved underscore": (
        store({"x_": 1}), store({"_x": 1}),
        ("InvalidValue", "values:store: doc._x: field names starting with '_' are reserved"
                         " for system fields")),
    "table name": (
        ("mutation", "values:create_in", {"table": "t" * 64}),
        ("mutation", "values:create_in", {"table": "t" * 65}),
        ("InvalidTableName", f'values:create_in: invalid table name "{"t" * 65}": expected a'
                             " letter then letters, digits or _ (at most 64 characters; names"
                             " starting with _ are reserved)")),
    "integer precision": (
        store({"n": 2**53}), store({"n": 2**53 + 1}),
        ("InvalidValue", re.compile(r"values:store: args\.doc\.n: integer 9007199254740993"
                                    r" does not fit a float64 exactly .*"))),
    "document nesting": (
        built("depth", 16), built("depth", 17),
        ("InvalidValue", f"values:store_built: doc.v{'[0]' * 15}: value is nested deeper"
                         " than 16 levels")),
    "document fields": (
        built("fields", 1_024), built("fields", 1_025),
        ("InvalidValue", "values:store_built: doc: object has 1025 fields, more than the"
                         " limit of 1024")),
    "document array items": (
        built("items", 8_192), built("items", 8_193),
        ("InvalidValue", "values:store_built: doc.v: array has 8193 items, more than the"
                         " limit of 8192")),
}


async def run(t: ReactorTest, call: Call) -> Outcome:
    kind, path, args = call
    return await getattr(t.engine, f"run_{kind}")(path, args)


def check_refused(outcome: Outcome, expected: Expected) -> None:
    assert outcome.error is not None, f"accepted past the limit: {outcome.value!r}"[:300]
    code, message = expected
    assert outcome.error.code == code, outcome.error.message
    if isinstance(message, re.Pattern):
        assert message.fullmatch(reason(outcome.error)), outcome.error.message
    else:
        assert reason(outcome.error) == message


def reason(error: FunctionError) -> str:
    """A message without Convex's framing: the request id line, then `Uncaught <Class>: `."""
    assert error.message == f"[Request ID: {error.request_id}] Server Error\n{error.summary}"
    return re.sub(r"^Uncaught \w+: ", "", error.summary)


@pytest.mark.parametrize("name", DOCUMENT_CASES)
async def test_document_limits(name: str) -> None:
    at, past, expected = DOCUMENT_CASES[name]
    async with ReactorTest(LIMITS_APP) as t:
        accepted = await run(t, at)
        assert accepted.ok, accepted.error
        check_refused(await run(t, past), expected)


async def _fill(t: ReactorTest, count: int) -> None:
    for start in range(0, count, 8_000):
        await t.mutation("txn:fill", {"start": start, "count": min(8_000, count - start)})


async def both(t: ReactorTest, at: Call, past: Call) -> tuple[Outcome, Outcome]:
    return await run(t, at), await run(t, past)


async def documents_scanned(t: ReactorTest) -> tuple[Outcome, Outcome]:
    await _fill(t, 32_001)
    return await both(t, ("query", "txn:scan", {"n": 32_000}),
                      ("query", "txn:scan", {"n": 32_001}))


async def index_ranges(t: ReactorTest) -> tuple[Outcome, Outcome]:
    await _fill(t, 1)
    return await both(t, ("query", "txn:ranges", {"n": 4_096}),
                      ("query", "txn:ranges", {"n": 4_097}))


async def bytes_read(t: ReactorTest) -> tuple[Outcome, Outcome]:
    """16 documents of exactly 1 MiB are exactly 16 MiB; one small document more is past."""
    read: Call = ("query", "txn:read_all", {"table": "blobs"})
    await t.mutation("txn:put_blobs", {"table": "blobs", "lengths": [MIB - BLOB_OVERHEAD] * 16})
    at = await run(t, read)
    await t.mutation("txn:put_blobs", {"table": "blobs", "lengths": [0]})
    return at, await run(t, read)


async def documents_written(t: ReactorTest) -> tuple[Outcome, Outcome]:
    return await both(t, ("mutation", "txn:write_many", {"table": "marks", "count": 16_000}),
                      ("mutation", "txn:write_many", {"table": "marks", "count": 16_001}))


async def bytes_written(t: ReactorTest) -> tuple[Outcome, Outcome]:
    lengths = [MIB - BLOB_OVERHEAD] * 16
    return await both(t, ("mutation", "txn:put_blobs", {"table": "blobs", "lengths": lengths}),
                      ("mutation", "txn:put_blobs", {"table": "blobs",
                                                     "lengths": [*lengths, 0]}))


async def user_time(t: ReactorTest) -> tuple[Outcome, Outcome]:
    """There is no setting: the default 1 s, with a function burning 0.75 s and 1.25 s."""
    return await both(t, ("query", "txn:spin", {"seconds": 0.75}),
                      ("query", "txn:spin", {"seconds": 1.25}))


def _exceeded(path: str, amount: int, what: str, limit: int) -> str:
    return (f"{path}: transaction limit exceeded: {amount} {what}, the limit is {limit}"
            " (split the work over several mutations or paginate)")


TRANSACTION_CASES: dict[str, tuple[Callable[[ReactorTest], Awaitable[tuple[Outcome, Outcome]]],
                                   Expected]] = {
    "documents scanned": (documents_scanned, (
        "TooManyDocumentsScanned",
        _exceeded("txn:scan", 32_001, "documents scanned", 32_000))),
    "index ranges": (index_ranges, (
        "TooManyIndexRangesRead", _exceeded("txn:ranges", 4_097, "index ranges read", 4_096))),
    "bytes read": (bytes_read, (
        "TooManyBytesRead",
        _exceeded("txn:read_all", 16 * MIB + BLOB_OVERHEAD, "bytes read", 16 * MIB))),
    "documents written": (documents_written, (
        "TooManyDocumentsWritten",
        _exceeded("txn:write_many", 16_001, "documents written", 16_000))),
    "bytes written": (bytes_written, (
        "TooManyBytesWritten",
        _exceeded("txn:put_blobs", 16 * MIB + BLOB_OVERHEAD, "bytes written", 16 * MIB))),
    "user time": (user_time, (
        "UserTimeExceeded",
        re.compile(r"txn:spin: function ran for 1\.\d\d s of its own code; the limit is 1 s"
                   r" \(move slow work into an action\)"))),
}


@pytest.mark.parametrize("name", TRANSACTION_CASES)
async def test_transaction_limits(name: str) -> None:
    both_sides, expected = TRANSACTION_CASES[name]
    async with ReactorTest(LIMITS_APP) as t:
        accepted, refused = await both_sides(t)
        assert accepted.ok, accepted.error
        check_refused(refused, expected)


# Schemas, actions and environment variables -------------------------------------------


def add_indexes(count: int) -> None:
    table = define_table({"f": v.number()})
    for i in range(count):
        table = table.index(f"i{i}", ["f"])


def index_fields(count: int) -> None:
    define_table({f"f{i}": v.number() for i in range(17)}).index(
        "wide", [f"f{i}" for i in range(count)])


SCHEMA_CASES: dict[str, tuple[Callable[[int], None], int, Expected]] = {
    "indexes per table": (add_indexes, 32,
                          ("SchemaError", "index 'i32': a table has at most 32 indexes")),
    "fields per index": (index_fields, 16,
                         ("SchemaError", "index 'wide': expected 1 to 16 fields, got 17")),
}


@pytest.mark.parametrize("name", SCHEMA_CASES)
def test_schema_limits(name: str) -> None:
    declare, limit, (code, message) = SCHEMA_CASES[name]
    declare(limit)
    with pytest.raises(ReactorError) as refused:
        declare(limit + 1)
    assert (refused.value.code, refused.value.message) == (code, message)


RUNTIME_CASES: dict[str, tuple[Callable[[ReactorTest], Awaitable[None]], dict[str, Any]]] = {
    "action timeout": (runtime.action_timeout, {"action_timeout_s": 0.3}),
    "action step": (runtime.action_step, {}),
    "concurrent actions": (runtime.concurrent_actions, {}),
    "environment variable name": (runtime.environment_name, {}),
    "environment variable value": (runtime.environment_value, {}),
}


@pytest.mark.parametrize("name", RUNTIME_CASES)
async def test_runtime_limits(name: str) -> None:
    check, engine_options = RUNTIME_CASES[name]
    async with ReactorTest(LIMITS_APP, **engine_options) as t:
        await check(t)


# The catalogue, the guide and the code agree ------------------------------------------

CASES = {*ARGUMENT_CASES, *CONNECTION_CASES, *DOCUMENT_CASES, *TRANSACTION_CASES,
         *SCHEMA_CASES, *RUNTIME_CASES}


def test_every_documented_limit_is_in_the_catalogue() -> None:
    assert set(DOCUMENTED) <= CASES, sorted(set(DOCUMENTED) - CASES)
    # Each row of a limit table names a catalogued limit and states its default.
    for page, label, numbers in limit_rows():
        if label in NOT_LIMIT_ROWS:
            continue
        assert label in ROW_LIMITS, f"{page}: limit {label!r} is not in the catalogue"
        assert DOCUMENTED[ROW_LIMITS[label]] in numbers, (page, label, numbers)
    # Every number the limit sections state (prose too) is a catalogued limit's.
    known = {int(number) for number in DOCUMENTED.values() if number is not None}
    unexplained = {n: pages for n, pages in documented_numbers().items()
                   if n not in known | set(NOT_LIMITS)}
    assert not unexplained, f"limits in the guide without a catalogue entry: {unexplained}"
    missing = known - guide_numbers()
    assert not missing, f"catalogue limits the guide does not state: {sorted(missing)}"


def test_documented_defaults_are_the_code_defaults() -> None:
    """The limits tested above at small settings have these documented defaults."""
    config = ServerConfig()
    assert {
        "message size": config.max_message_bytes,
        "queries per connection": config.max_queries_per_connection,
        "in-flight requests": config.max_inflight_requests,
        "outbox messages": config.max_outbox_messages,
        "send timeout": config.send_timeout_s,
        "ping interval": config.ping_interval_s,
        "transition chunk": config.transition_chunk_bytes,
        "action timeout": DEFAULT_ACTION_TIMEOUT_S,
        "upload size": config.max_upload_bytes,
        "upload timeout": config.upload_timeout_s,
        "uploads per minute": config.uploads_per_minute,
    } == {name: DOCUMENTED[name] for name in (
        "message size", "queries per connection", "in-flight requests", "outbox messages",
        "send timeout", "ping interval", "transition chunk", "action timeout", "upload size",
        "upload timeout", "uploads per minute")}
    assert DOCUMENTED["user time"] == USER_TIME_LIMIT_S
    assert DOCUMENTED["action step"] == ACTION_STEP_LIMIT_S
