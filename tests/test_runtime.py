"""Running functions: validation, visibility, errors, logs, ctx, limits, retries, actions."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.transactions import DatabaseOptions, TransactionLimits

APPS = Path(__file__).parent / "apps"
APP = APPS / "rt"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal") as running:
        yield running


def failed(outcome: Outcome, code: str) -> str:
    """The error message of a call that must have failed with `code`, without its
    `[Request ID: ...] Server Error` line (checked here)."""
    assert outcome.error is not None, outcome.value
    assert outcome.error.code == code, outcome.error.message
    request_id = outcome.error.request_id
    assert re.fullmatch("[0-9a-f]{16}", request_id)
    prefix = f"[Request ID: {request_id}] Server Error\n"
    assert outcome.error.message == prefix + outcome.error.summary
    return outcome.error.summary


async def add(engine: Engine, author: str, rank: float = 1) -> str:
    outcome = await engine.run_mutation("notes:add", {"author": author, "body": "", "rank": rank})
    doc_id: str = outcome.unwrap()
    return doc_id


# Calling ------------------------------------------------------------------------


async def test_args_validation_names_function_and_path(engine: Engine) -> None:
    bad = await engine.run_mutation("notes:add", {"author": "a", "body": "b", "rank": "x"})
    assert failed(bad, "ArgsValidation") == (
        "ArgumentValidationError: Value does not match validator.\nPath: .rank\n"
        'notes:add: args.rank: expected number, got "x"')
    missing = await engine.run_mutation("notes:add", {"author": "a", "body": "b"})
    assert "Path: .rank\nnotes:add: args.rank" in failed(missing, "ArgsValidation")
    fractional = await engine.run_mutation("notes:add", {"author": 1.5, "body": "b", "rank": 1})
    assert failed(fractional, "ArgsValidation").endswith("expected string, got 1.5")
    whole = await engine.run_mutation("notes:add", {"author": 12, "body": "b", "rank": 1})
    assert failed(whole, "ArgsValidation").endswith("expected string, got 12")
    assert (await engine.run_query("notes:by_author", {"author": "a"})).unwrap() == []


async def test_returns_validation(engine: Engine) -> None:
    message = failed(await engine.run_query("notes:wrong_returns", {}), "ReturnsValidation")
    assert message == ("ReturnsValidationError: Value does not match validator.\n"
                       "notes:wrong_returns: returns: expected string, got 42")


async def test_unknown_function(engine: Engine) -> None:
    for path in ("notes:nope", "nope:add", "notes"):
        failed(await engine.run_query(path, {}), "FunctionNotFound")


async def test_internal_functions_are_hidden_from_clients(engine: Engine) -> None:
    hidden = await engine.call(FunctionKind.QUERY, "notes:secret", {}, admin=False)
    assert "notes:secret" in failed(hidden, "FunctionNotFound")
    admin = await engine.call(FunctionKind.QUERY, "notes:secret", {}, admin=True)
    assert admin.unwrap() == "internal"
    via_action = await engine.run_action("actions:add_then_read", {"author": "z"})
    assert via_action.unwrap()["secret"] == "internal"


async def test_kind_mismatch(engine: Engine) -> None:
    args = {"author": "a", "body": "", "rank": 1}
    assert failed(await engine.run_query("notes:add", args), "WrongFunctionKind") == (
        "Trying to execute notes:add as Query, but it is defined as Mutation.")
    failed(await engine.run_mutation("notes:by_author", {"author": "a"}), "WrongFunctionKind")
    failed(await engine.run_action("notes:add", args), "WrongFunctionKind")


async def test_paths_with_extensions_and_default_exports(engine: Engine) -> None:
    await add(engine, "p")
    for path in ("notes:by_author", "notes.js:by_author", "notes.ts:by_author"):
        rows = (await engine.run_query(path, {"author": "p"})).unwrap()
        assert [row["author"] for row in rows] == ["p"]
    for path in ("defaults", "defaults:default", "defaults.js", "defaults.js:default"):
        assert (await engine.run_query(path, {})).unwrap() == "default export"


# Errors and logs ----------------------------------------------------------------


async def test_queries_cannot_write(engine: Engine) -> None:
    assert "query" in failed(await engine.run_query("notes:write_in_query", {}), "ReadOnly")
    note = await add(engine, "r")
    failed(await engine.run_query("notes:patch_in_query", {"id": note}), "ReadOnly")


async def test_app_error_data_reaches_the_caller_and_nothing_commits(engine: Engine) -> None:
    outcome = await engine.run_mutation("notes:refuse", {"code": "E_FULL"})
    failed(outcome, "AppError")
    assert outcome.error is not None
    assert outcome.error.is_app_error
    assert outcome.error.data == {"code": "E_FULL", "retry": False}
    assert (await engine.run_query("notes:by_author", {"author": "refused"})).unwrap() == []


async def test_uncaught_exception_message_has_no_traceback(engine: Engine) -> None:
    message = failed(await engine.run_mutation("notes:boom", {}), "UncaughtError")
    assert message == "Uncaught ValueError: boom"


async def test_print_and_logging_become_log_lines(engine: Engine) -> None:
    outcome = await engine.run_query("notes:chatty", {})
    assert outcome.unwrap() == 1
    assert outcome.log_lines == ["[LOG] hello world", "[LOG] two", "[LOG] lines",
                                 "[INFO] info line", "[WARN] careful", "[ERROR] bad"]


# ctx ----------------------------------------------------------------------------


async def test_now_is_fixed_and_random_is_seeded_by_query_args_and_snapshot(
        engine: Engine) -> None:
    first = await engine.run_query("notes:clock", {"salt": "a"})
    value = first.unwrap()
    assert value["now"][0] == value["now"][1]
    assert value["random"][0] != value["random"][1]
    again = await engine.run_query("notes:clock", {"salt": "a"}, ts=first.ts)
    assert again.unwrap()["random"] == value["random"]
    assert again.unwrap()["now"] != value["now"]
    other_args = await engine.run_query("notes:clock", {"salt": "b"}, ts=first.ts)
    assert other_args.unwrap()["random"] != value["random"]
    await add(engine, "moves the snapshot")
    later = await engine.run_query("notes:clock", {"salt": "a"})
    assert later.ts != first.ts
    assert later.unwrap()["random"] != value["random"]


# Limits -------------------------------------------------------------------------


async def test_transaction_limits(tmp_path: Path) -> None:
    limits = TransactionLimits(max_documents_scanned=20, max_documents_written=10,
                               max_bytes_written=10_000)
    async with Engine(APP, tmp_path, durability="normal",
                      options=DatabaseOptions(limits=limits)) as engine:
        for i in range(15):
            await add(engine, "s", i)
        assert (await engine.run_query("notes:scan_all", {})).unwrap() == 15
        for i in range(10):
            await add(engine, "t", i)
        message = failed(await engine.run_query("notes:scan_all", {}), "TooManyDocumentsScanned")
        assert "documents scanned" in message and "20" in message

        assert (await engine.run_mutation("notes:write_many", {"count": 10})).ok
        failed(await engine.run_mutation("notes:write_many", {"count": 11}),
               "TooManyDocumentsWritten")
        assert (await engine.run_mutation("notes:write_big", {"size": 5_000})).ok
        failed(await engine.run_mutation("notes:write_big", {"size": 20_000}),
               "TooManyBytesWritten")

        engine.runner.user_time_limit_s = 0.05
        assert (await engine.run_mutation("notes:spin", {"seconds": 0})).ok
        message = failed(await engine.run_mutation("notes:spin", {"seconds": 0.2}),
                         "UserTimeExceeded")
        assert "0.05" in message


# Concurrency --------------------------------------------------------------------


async def test_conflicting_mutations_are_retried(engine: Engine) -> None:
    counter = (await engine.run_mutation("notes:new_counter", {})).unwrap()
    outcomes = await asyncio.gather(*(
        engine.run_mutation("notes:increment", {"id": counter}) for _ in range(8)))
    assert sorted(o.unwrap() for o in outcomes) == [float(i) for i in range(1, 9)]
    assert max(o.attempts for o in outcomes) > 1
    assert engine.database.committer.stats.conflicts > 0
    # Serial order: each increment saw the one committed just before it.
    by_ts = sorted(outcomes, key=lambda o: o.ts or 0)
    assert [o.value for o in by_ts] == [float(i) for i in range(1, 9)]
    assert (await engine.run_query("notes:counter", {"id": counter})).unwrap() == 8


# Actions ------------------------------------------------------------------------


async def test_actions_see_their_own_writes(engine: Engine) -> None:
    result = (await engine.run_action("actions:add_then_read", {"author": "act"})).unwrap()
    assert sorted(result["seen"]) == sorted(result["ids"])
    assert len(result["ids"]) == 2


async def test_action_timeout(tmp_path: Path) -> None:
    async with Engine(APP, tmp_path, durability="normal", action_timeout_s=0.1) as engine:
        assert (await engine.run_action("actions:sleepy", {"seconds": 0.01})).unwrap() == "woke"
        message = failed(await engine.run_action("actions:sleepy", {"seconds": 5}),
                         "ActionTimeout")
        assert "0.1" in message


# Tables -------------------------------------------------------------------------


async def test_schemaless_tables_appear_on_first_insert(tmp_path: Path) -> None:
    app = APPS / "schemaless"
    async with Engine(app, tmp_path, durability="normal") as engine:
        assert (await engine.run_query("things:list_all", {"table": "things"})).unwrap() == []
        doc_id = (await engine.run_mutation(
            "things:put", {"table": "things", "doc": {"a": 1, "nested": {"b": [True]}}})).unwrap()
        rows = (await engine.run_query("things:list_all", {"table": "things"})).unwrap()
        assert [(row["_id"], row["a"], row["nested"]) for row in rows] == [
            (doc_id, 1.0, {"b": [True]})]
        failed(await engine.run_mutation("things:put", {"table": "_x", "doc": {}}),
               "SystemTable")
        failed(await engine.run_mutation("things:put", {"table": "bad name", "doc": {}}),
               "InvalidTableName")
    async with Engine(app, tmp_path, durability="normal") as engine:
        rows = (await engine.run_query("things:list_all", {"table": "things"})).unwrap()
        assert [row["_id"] for row in rows] == [doc_id]
        assert "things" in engine.database.catalog.user_table_names


async def test_schema_violations_are_rejected(engine: Engine) -> None:
    message = failed(await engine.run_mutation("notes:bad_document", {"rank": "x"}),
                     "ValidationError")
    assert message == ('Uncaught ValidationError: notes:bad_document: doc.rank: expected number,'
                       ' got "x"')
    assert "nowhere" in failed(await engine.run_mutation("notes:undeclared_table", {}),
                               "TableNotFound")
    assert (await engine.run_mutation("notes:bad_document", {"rank": 3})).ok


async def test_system_tables_are_read_through_db_system(engine: Engine) -> None:
    failed(await engine.run_mutation("notes:write_system_table", {}), "SystemTable")
    failed(await engine.run_query("notes:read_system_table_directly", {}), "SystemTable")
    assert (await engine.run_query("notes:jobs", {})).unwrap() == []


async def test_scheduling_is_atomic_with_the_mutation(engine: Engine) -> None:
    job = (await engine.run_mutation("notes:schedule", {"fail": False})).unwrap()
    failed(await engine.run_mutation("notes:schedule", {"fail": True}), "AppError")
    jobs: list[dict[str, Any]] = (await engine.run_query("notes:jobs", {})).unwrap()
    assert [j["_id"] for j in jobs] == [job]
    assert jobs[0]["name"] == "notes:add"
    assert jobs[0]["state"] == {"kind": "pending"}
    assert jobs[0]["args"] == [{"author": "later", "body": "", "rank": 1.0}]
