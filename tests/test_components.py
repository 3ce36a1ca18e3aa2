"""Components: an installed component's tables and functions behind their own boundary.

The app in tests/apps/components installs `counter` twice (as `counter` and
`second`); each installation has its own tables and scheduled jobs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor import FunctionError, ReactorError, components, create_function_handle
from reactor.runtime.loader import AppLoadError, load_app, unload_app
from reactor.runtime.scheduler import ManualClock
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "components"


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP) as test:
        yield test


async def test_the_app_cannot_touch_a_components_tables(t: ReactorTest) -> None:
    count_id = await t.mutation("notes:write_and_count", {"text": "a"})
    with pytest.raises(FunctionError, match=r'ctx.db.query: table "counts" belongs to'
                       r" component 'counter'.*components.counter"):
        await t.query("notes:read_component_table")
    with pytest.raises(FunctionError, match=r'ctx.db.get: that id is of table "counts",'
                       r" which belongs to component 'counter'"):
        await t.query("notes:read_by_id", {"doc_id": count_id})
    with pytest.raises(FunctionError, match=r"ctx.db.delete: .*component 'counter'"):
        await t.mutation("notes:delete_by_id", {"doc_id": count_id})
    assert await t.query("@counter/lib:get", {"name": "notes"}) == 1


async def test_a_component_sees_only_its_own_tables_and_functions(t: ReactorTest) -> None:
    note_id = await t.mutation("notes:write", {"text": "private"})
    with pytest.raises(FunctionError, match=r"component 'counter' has no table \"notes\""
                       r" \(its tables: counts, events"):
        await t.query("@counter/lib:read_app_table")
    with pytest.raises(FunctionError, match=r'that id is of the app table "notes": component'
                       r" 'counter' cannot read"):
        await t.query("@counter/lib:read_by_id", {"doc_id": note_id})
    with pytest.raises(FunctionError, match=r"Could not find function for"
                       r" '@counter/notes:write'"):
        await t.mutation("@counter/lib:call_app")
    # Two installations of one component: separate tables, ids of one refused by the other.
    first = await t.mutation("@counter/lib:add", {"name": "n", "by": 3})
    await t.mutation("@second/lib:add", {"name": "n", "by": 4})
    assert await t.query("notes:overview", {"name": "n"}) == {
        "notes": 1, "counter": 3, "second": 4}
    assert await t.query("@counter/lib:events_of", {"countId": first}) == [3]
    with pytest.raises(FunctionError, match=r'(?s)ArgumentValidationError.*Id<"second/counts">'):
        await t.query("@second/lib:events_of", {"countId": first})


async def test_component_functions_are_not_public(t: ReactorTest) -> None:
    outcome = await t.engine.run_query("@counter/lib:get", {"name": "x"})
    assert outcome.error is not None
    assert "Could not find public function for '@counter/lib:get'" in outcome.error.message
    assert not t.engine.app.functions["@counter/lib:get"].is_public
    assert t.engine.hides("@counter/lib:get", admin=False)


async def test_a_raising_component_mutation_rolls_back_alone(t: ReactorTest) -> None:
    assert await t.mutation("notes:write_and_fail", {"text": "b"}) == "kept"
    # The note and the first add committed; add_then_fail's +100 did not.
    assert await t.query("notes:overview", {"name": "kept"}) == {
        "notes": 1, "counter": 1, "second": 0}


async def test_actions_call_across_the_boundary(t: ReactorTest) -> None:
    # The component's action calls its own functions by path string and by object.
    assert await t.action("notes:count_twice", {"name": "x"}) == 2
    assert await t.query("@counter/lib:get", {"name": "x"}) == 2


async def test_scheduling_inside_a_component(t: ReactorTest) -> None:
    from_app = await t.mutation("notes:count_later", {"name": "y"})
    own = await t.mutation("@counter/lib:add_later", {"name": "z"})
    # Each sees its own jobs: the app none of the components', a component only its own.
    assert await t.query("notes:app_jobs") == []
    assert await t.query("@counter/lib:job_names") == ["@counter/lib:add"]
    assert await t.query("@second/lib:job_names") == ["@second/lib:add"]
    assert await t.query("@counter/lib:job", {"job_id": own}) == "pending"
    assert await t.query("@counter/lib:job", {"job_id": from_app}) is None
    assert await t.run_scheduled() == 2
    assert await t.query("@counter/lib:job", {"job_id": own}) == "success"
    assert await t.query("@second/lib:job", {"job_id": from_app}) == "success"
    assert await t.query("notes:overview", {"name": "y"}) == {
        "notes": 0, "counter": 0, "second": 2}
    assert await t.query("@counter/lib:get", {"name": "z"}) == 5


async def test_a_query_through_a_component_is_reactive(t: ReactorTest) -> None:
    async with t.engine.subscribe("notes:overview", {"name": "live"}) as live:
        assert await live.next(timeout=5) == {"notes": 0, "counter": 0, "second": 0}
        await t.mutation("@second/lib:add", {"name": "live", "by": 7})
        assert await live.next(timeout=5) == {"notes": 0, "counter": 0, "second": 7}
        await t.mutation("@counter/lib:add", {"name": "live"})
        assert await live.next(timeout=5) == {"notes": 0, "counter": 1, "second": 7}


async def test_an_unknown_component_function_is_named(t: ReactorTest) -> None:
    with pytest.raises(FunctionError, match="Could not find function for"
                       " '@counter/lib:nothing'"):
        await t.query("notes:missing_function")


def test_load_errors_name_the_installation(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    loaded = load_app(app)
    try:
        assert sorted(loaded.components) == ["counter", "second"]
        assert "second/events" in loaded.schema.tables  # type: ignore[union-attr]
        assert loaded.schema.tables["second/events"].validator.describe() == (  # type: ignore
            '{countId: Id<"second/counts">, by: number}')
    finally:
        unload_app(loaded)
    (app / "app.py").write_text(
        "from reactor import define_app\nfrom .counter.component import component\n"
        "app = define_app().use(component).use(component)\n")
    with pytest.raises(AppLoadError, match="a component is already installed as 'counter'"):
        load_app(app)


def test_codegen_leaves_component_functions_out() -> None:
    from reactor.runtime.codegen import generate_api

    app = load_app(APP)
    try:
        dts = generate_api(app, "convex").dts
    finally:
        unload_app(app)
    assert "write_and_count" in dts
    assert "add_then_fail" not in dts and "@counter" not in dts


async def test_uninstalling_a_component_with_data_is_refused(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app)
    async with ReactorTest(app, tmp_path / "data") as t:
        await t.mutation("@second/lib:add", {"name": "kept"})
        (app / "app.py").write_text(
            "from reactor import define_app\nfrom .counter.component import component\n"
            "app = define_app().use(component)\n")
        with pytest.raises(ReactorError, match=r"functions/crons\.py: cron 'app tick': no"
                           r" function '@second/lib:add'"):
            await t.engine.reload()
        (app / "functions" / "crons.py").unlink()
        with pytest.raises(ReactorError, match='table "second/counts" has documents but is'
                           " not declared"):
            await t.engine.reload()
        assert await t.query("notes:overview", {"name": "kept"}) == {
            "notes": 0, "counter": 0, "second": 1}


async def test_export_and_import_keep_component_tables(tmp_path: Path) -> None:
    from reactor.runtime.snapshots.export import export_data_dir
    from reactor.runtime.snapshots.importer import import_parsed
    from reactor.runtime.snapshots.sources import parse_import

    async with ReactorTest(APP, tmp_path / "a") as t:
        await t.mutation("notes:write_and_count", {"text": "a"})
        count_id = await t.mutation("@second/lib:add", {"name": "n", "by": 4})
    snapshot = tmp_path / "snapshot.zip"
    await export_data_dir(tmp_path / "a", snapshot)
    with zipfile.ZipFile(snapshot) as archive:
        names = set(archive.namelist())
    assert {"notes/documents.jsonl", "_components/counter/counts/documents.jsonl",
            "_components/second/events/documents.jsonl",
            "_components/second/_tables/documents.jsonl"} <= names
    assert not any(name.startswith(("counter/", "second/")) for name in names)
    async with ReactorTest(APP, tmp_path / "b") as t:
        parsed = parse_import(snapshot, "zip", None)
        assert sorted(s.table for s in parsed.tables) == [
            "counter/counts", "counter/events", "notes", "second/counts", "second/events"]
        await import_parsed(t.engine.database, None, parsed, "require_empty")
        assert await t.query("notes:overview", {"name": "notes"}) == {
            "notes": 1, "counter": 1, "second": 0}
        assert await t.query("@second/lib:events_of", {"countId": count_id}) == [4]


async def test_component_functions_keep_their_scope_in_worker_processes(tmp_path: Path) -> None:
    from reactor.runtime.action_workers import ACTION_SLICE_S
    from reactor.runtime.workers import SLICE_S

    async with ReactorTest(APP, tmp_path, action_timeout_s=60) as t:
        await t.mutation("@counter/lib:busy_add", {"name": "w", "busy": SLICE_S * 3})
        assert t.engine.pool is not None and t.engine.pool.isolated("@counter/lib:busy_add")
        moved = await t.mutation("@counter/lib:busy_add", {"name": "w", "busy": 0})
        assert moved["pid"] != os.getpid()
        assert await t.query("@counter/lib:get", {"name": "w"}) == 2
        assert await t.query("@counter/lib:events_of", {"countId": moved["count"]}) == [1, 1]

        await t.action("@counter/lib:busy_twice", {"name": "a", "busy": ACTION_SLICE_S * 2})
        pool = t.engine.actions.pool
        assert pool is not None and pool.isolated("@counter/lib:busy_twice")
        remote = await t.action("@counter/lib:busy_twice", {"name": "a", "busy": 0})
        assert remote["pid"] != os.getpid() and remote["value"] == 2
        # Jobs scheduled from the workers run the component's function, and are its own.
        assert await t.query("@counter/lib:job_names") == ["@counter/lib:add"] * 4
        assert await t.query("notes:app_jobs") == []


_ops = st.lists(st.tuples(st.sampled_from(["counter", "second"]), st.sampled_from(["a", "b"]),
                          st.integers(1, 9), st.booleans()), max_size=6)


@settings(max_examples=20, deadline=None)
@given(calls=st.lists(st.tuples(_ops, st.booleans()), min_size=1, max_size=5))
def test_calls_across_the_boundary_match_a_model(calls: list[tuple[list[Any], bool]]) -> None:
    """Oracle: a failing component mutation adds nothing, an aborted app mutation adds
    nothing at all, everything else adds to its own installation's count only."""
    async def run() -> None:
        model: dict[tuple[str, str], float] = {}
        async with ReactorTest(APP, workers=0) as t:
            for ops, abort in calls:
                outcome = await t.engine.run_mutation("notes:apply",
                                                      {"ops": [list(op) for op in ops],
                                                       "abort": abort})
                failures = sum(1 for op in ops if op[3])
                if abort:
                    assert outcome.error is not None
                    assert outcome.error.data == {"failed": failures}
                    continue
                assert outcome.unwrap() == failures
                for installation, name, by, fail in ops:
                    if not fail:
                        model[installation, name] = model.get((installation, name), 0) + by
            for name in ("a", "b"):
                assert await t.query("notes:overview", {"name": name}) == {
                    "notes": 0, "counter": model.get(("counter", name), 0),
                    "second": model.get(("second", name), 0)}

    asyncio.run(run())


async def test_a_components_crons_run_its_own_functions() -> None:
    clock = ManualClock(1_800_000_000_000)
    async with ReactorTest(APP, clock=clock) as t:
        crons = t.engine.app.crons
        assert crons is not None and sorted(crons.jobs) == ["app tick", "counter/tick",
                                                            "second/tick"]
        clock.advance(60)
        assert await t.run_scheduled() == 3
        for installation, ticks in (("counter", 1), ("second", 1)):
            assert await t.query(f"@{installation}/lib:get", {"name": "ticks"}) == ticks
        assert await t.query("notes:overview", {"name": "app ticks"}) == {
            "notes": 0, "counter": 0, "second": 1}


async def test_the_dashboard_sees_component_tables_and_jobs(t: ReactorTest) -> None:
    system = "_system/dashboard:"
    count_id = await t.mutation("notes:write_and_count", {"text": "a"})
    await t.mutation("@counter/lib:add_later", {"name": "later"})
    tables = {row["name"]: row["count"] for row in await t.query(f"{system}tables", {})}
    assert tables == {"notes": 1, "counter/counts": 1, "counter/events": 1,
                      "second/counts": 0, "second/events": 0}
    page = await t.query(f"{system}documents", {
        "table": "counter/counts", "paginationOpts": {"numItems": 10, "cursor": None}})
    assert [doc["_id"] for doc in page["page"]] == [count_id]
    jobs = (await t.query(f"{system}schedules"))["jobs"]
    assert [job["name"] for job in jobs] == ["@counter/lib:add"]
    paths = {f["path"] for f in await t.query(f"{system}functions")}
    assert {"notes:overview", "@counter/lib:get", "@second/lib:add"} <= paths


async def test_a_function_handle_lets_a_component_call_back_into_the_app(
        t: ReactorTest) -> None:
    # The component calls the app's mutation and query through handles, and schedules it.
    assert await t.mutation("notes:count_with_callback", {"name": "h"}) == 1
    assert await t.run_scheduled() == 1
    assert await t.query("notes:texts") == ["counted h", "later h"]
    assert await t.query("@counter/lib:get", {"name": "h"}) == 1
    assert create_function_handle(components.counter.lib.get) == "function://@counter/lib:get"
    # Without a handle the same path stays out of the component's reach.
    with pytest.raises(FunctionError, match="Could not find function for '@counter/notes:write'"):
        await t.mutation("@counter/lib:call_app")


async def test_a_table_name_with_a_slash_that_no_component_has(t: ReactorTest) -> None:
    with pytest.raises(FunctionError, match='invalid table name "nobody/counts"'):
        await t.query("notes:read_table", {"table": "nobody/counts"})
    with pytest.raises(FunctionError, match="belongs to component 'counter'"):
        await t.query("notes:read_table", {"table": "counter/counts"})
    with pytest.raises(FunctionError, match=r'ctx\.vector_search: table "counts" belongs to'
                       r" component 'second'"):
        await t.action("notes:vector_search_in", {"table": "second/counts"})


def test_reactor_run_calls_a_component_function(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from reactor.cli.main import main

    def reactor_run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main(["run", *args, "--app", str(APP), "--data", str(tmp_path)])
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    assert reactor_run("lib:add", '{"name": "cli", "by": 3}', "--component", "second")[0] == 0
    assert reactor_run("lib:get", '{"name": "cli"}', "--component", "second")[1] == "3.0\n"
    assert reactor_run("@second/lib:get", '{"name": "cli"}')[1] == "3.0\n"
    assert reactor_run("lib:get", '{"name": "cli"}', "--component", "counter")[1] == "0.0\n"
    code, _, err = reactor_run("lib:get", "{}", "--component", "nobody")
    assert code == 1 and "'@nobody/lib:get'" in err
