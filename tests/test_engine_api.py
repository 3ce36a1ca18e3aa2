"""The engine's API for the server: live queries held by id, visibility, stats, call reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reactor.runtime import Engine, FunctionKind, Outcome
from reactor.runtime.subscription import pin_page, unpinned_page

APP = Path(__file__).parent / "apps" / "sync"


@pytest.fixture
async def engine(tmp_path: Path, db_url: str | None) -> AsyncIterator[Engine]:
    async with Engine(APP, tmp_path, durability="normal", db_url=db_url) as running:
        yield running


async def until(check: Any, what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_live_query_runs_are_reported_with_their_duration(engine: Engine) -> None:
    reports: list[tuple[FunctionKind, Outcome]] = []
    engine.add_call_listener(lambda kind, outcome: reports.append((kind, outcome)))
    async with engine.subscribe("counter:get", {"name": "a"}) as live:
        assert await live.next(timeout=5) == 0
        await engine.run_mutation("counter:incr", {"name": "a"})
        assert await live.next(timeout=5) == 1
    queries = [o for kind, o in reports if kind is FunctionKind.QUERY]
    assert [(o.path, o.note, o.ok) for o in queries] == [
        ("counter:get", "live", True), ("counter:get", "live, re-run", True)]
    assert all(o.duration_s > 0 for o in queries)
    async with engine.subscribe("counter:nope", {}) as missing:
        with pytest.raises(Exception, match="counter:nope"):
            await missing.next(timeout=5)
    failed = [o for kind, o in reports if kind is FunctionKind.QUERY and not o.ok]
    assert [(o.path, o.note) for o in failed] == [("counter:nope", "live")]


async def test_internal_functions_are_hidden_from_clients_only(engine: Engine) -> None:
    assert engine.hides("counter:peek", admin=False)
    assert engine.hides("counter.js:peek", admin=False)
    assert not engine.hides("counter:peek", admin=True)
    assert not engine.hides("counter:get", admin=False)
    # No such function: not hidden, the live query itself reports it (and runs once it exists).
    assert not engine.hides("counter:later", admin=False)


async def test_held_queries_share_one_entry_and_stats_count_them(engine: Engine) -> None:
    woken: list[str] = []
    first = engine.hold_query("counter:get", {"name": "s"}, None, admin=False, journal=None,
                              watcher=lambda: woken.append("first"))
    second = engine.hold_query("counter.js:get", {"name": "s"}, None, admin=False,
                               journal=None, watcher=lambda: woken.append("second"))
    assert first is second
    await until(lambda: sorted(woken) == ["first", "second"], "the first run")
    woken.clear()
    before = engine.stats()
    assert before.query_entries >= 1 and before.query_executions >= 1
    await engine.run_mutation("counter:incr", {"name": "s"})
    await until(lambda: sorted(woken) == ["first", "second"], "both watchers")
    after = engine.stats()
    assert after.commits == before.commits + 1
    assert after.commit_batches == before.commit_batches + 1
    assert after.query_executions == before.query_executions + 1
    assert engine.live_ts == engine.latest_ts
    engine.release_query(first, woken.clear)
    engine.release_query(second, woken.clear)


async def test_a_kept_journal_pins_the_page_to_the_end_it_reported(engine: Engine) -> None:
    for rank in (1, 2, 3):
        await engine.run_mutation("items:add", {"name": "l", "rank": rank})
    options = {"numItems": 2, "cursor": None}
    first = engine.hold_query("items:page", {"name": "l", "paginationOpts": options}, None,
                              admin=False, journal=None, watcher=lambda: None)
    await until(lambda: first.ready, "the first page")
    assert first.result is not None
    page = first.result.value
    assert [d["rank"] for d in page["page"]] == [1, 2]
    # A client that reconnects sends the journal back: the page keeps its end, and an
    # item inserted inside the page grows it instead of pushing one onto the next page.
    await engine.run_mutation("items:add", {"name": "l", "rank": 1.5})
    again = engine.hold_query("items:page", {"name": "l", "paginationOpts": options}, None,
                              admin=False, journal=page["continueCursor"],
                              watcher=lambda: None)
    await until(lambda: again.ready, "the pinned page")
    assert again.result is not None
    assert [d["rank"] for d in again.result.value["page"]] == [1, 1.5, 2]


cursors = st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=8))


@given(end=st.one_of(st.just("absent"), cursors), journal=st.one_of(st.none(), cursors))
def test_one_pinning_rule(end: str | None, journal: str | None) -> None:
    options: dict[str, Any] = {"numItems": 5, "cursor": None}
    if end != "absent":
        options["endCursor"] = end
    args = {"paginationOpts": options}
    open_ended = end in ("absent", None, "")
    assert unpinned_page(args) is open_ended
    pinned = pin_page(args, journal)
    if open_ended and journal:
        assert pinned["paginationOpts"] == {**options, "endCursor": journal}
    else:
        assert pinned is args
    assert not unpinned_page({"paginationOpts": "nope"})
    assert not unpinned_page({})
