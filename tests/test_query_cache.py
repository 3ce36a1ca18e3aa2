"""One-shot queries are answered from a still-valid result, and never from a stale one."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.runtime import Engine, FunctionKind

APP = Path(__file__).parent / "apps" / "basic"


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = Engine(APP, tmp_path, durability="normal")
    await engine.start()
    runs = {"count": 0}
    original = engine.runner.query

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        runs["count"] += 1
        return await original(*args, **kwargs)

    engine.runner.query = counting  # type: ignore[method-assign]
    engine.query_runs = runs  # type: ignore[attr-defined]
    yield engine
    await engine.stop()


async def call(engine: Engine, kind: FunctionKind, path: str, args: dict) -> object:
    outcome = await engine.call(kind, path, args, None)
    await engine.manager.advance()
    return outcome.unwrap()


async def test_repeated_query_runs_once_until_a_write_touches_it(engine: Engine) -> None:
    runs = engine.query_runs  # type: ignore[attr-defined]
    await call(engine, FunctionKind.MUTATION, "notes:add", {"author": "a", "body": "x", "rank": 5})
    first = await call(engine, FunctionKind.QUERY, "notes:first_rank", {"author": "a"})
    again = await call(engine, FunctionKind.QUERY, "notes:first_rank", {"author": "a"})
    assert first == again and runs["count"] == 1

    # A write outside what the query read (another author) keeps the result.
    await call(engine, FunctionKind.MUTATION, "notes:add", {"author": "b", "body": "y", "rank": 1})
    assert await call(engine, FunctionKind.QUERY, "notes:first_rank", {"author": "a"}) == first
    assert runs["count"] == 1

    # A write inside it (a better rank for the same author) forces a fresh run.
    await call(engine, FunctionKind.MUTATION, "notes:add", {"author": "a", "body": "z", "rank": 2})
    best = await call(engine, FunctionKind.QUERY, "notes:first_rank", {"author": "a"})
    assert best["body"] == "z" and runs["count"] == 2  # type: ignore[index]


async def test_a_cached_value_is_a_copy(engine: Engine) -> None:
    await call(engine, FunctionKind.MUTATION, "notes:add", {"author": "a", "body": "x", "rank": 5})
    first = await call(engine, FunctionKind.QUERY, "notes:by_author", {"author": "a"})
    first[0]["body"] = "tampered"  # type: ignore[index]
    again = await call(engine, FunctionKind.QUERY, "notes:by_author", {"author": "a"})
    assert again[0]["body"] == "x"  # type: ignore[index]


async def test_nothing_is_served_while_the_manager_lags_behind_a_commit(engine: Engine) -> None:
    runs = engine.query_runs  # type: ignore[attr-defined]
    await call(engine, FunctionKind.MUTATION, "notes:add", {"author": "a", "body": "x", "rank": 5})
    await call(engine, FunctionKind.QUERY, "notes:first_rank", {"author": "a"})
    outcome = await engine.call(FunctionKind.MUTATION, "notes:add",
                                {"author": "a", "body": "w", "rank": 0}, None)
    assert outcome.ok
    # The commit is published but the manager has not looked at it yet.
    fresh = await engine.call(FunctionKind.QUERY, "notes:first_rank", {"author": "a"}, None)
    assert fresh.unwrap()["body"] == "w" and runs["count"] == 2
