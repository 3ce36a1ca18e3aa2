"""The dashboard's `_system/` functions: admin only, pages over large tables, field errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from reactor.runtime.admin.data import SCAN_BUDGET
from reactor.runtime.auth import AdminKey
from reactor.runtime.functions import FunctionKind
from reactor.server.login_codes import LoginCodes, make_code
from reactor.testing import ReactorTest

APP = Path(__file__).parent / "apps" / "dashboard"
D = "_system/dashboard:"


@pytest.fixture
async def t() -> AsyncIterator[ReactorTest]:
    async with ReactorTest(APP) as test:
        yield test


async def _page(t: ReactorTest, cursor: str | None = None, **args: Any) -> dict[str, Any]:
    page: dict[str, Any] = await t.query(f"{D}documents", {
        "table": "items", "paginationOpts": {"numItems": 50, "cursor": cursor}, **args})
    return page


@pytest.mark.parametrize(("kind", "path", "args"), [
    (FunctionKind.QUERY, "tables", {}),
    (FunctionKind.QUERY, "functions", {}),
    (FunctionKind.QUERY, "schedules", {}),
    (FunctionKind.MUTATION, "remove", {"ids": []}),
])
async def test_callers_without_the_admin_key_are_refused(
        t: ReactorTest, kind: FunctionKind, path: str, args: dict[str, Any]) -> None:
    for identity in (None, {"subject": "u1", "issuer": "reactor",
                            "tokenIdentifier": "reactor|u1"}):
        outcome = await t.engine.call(kind, D + path, args, identity, admin=False)
        assert outcome.error is not None and outcome.error.code == "AdminOnly"
        assert "needs the admin key" in outcome.error.message
    assert (await t.engine.call(kind, D + path, args, None, admin=True)).ok


async def test_app_code_cannot_reach_system_functions(t: ReactorTest) -> None:
    """A nested call from an action is the app's code, not the admin."""
    outcome = await t.engine._nested_call(FunctionKind.QUERY, f"{D}tables", {}, None)
    assert outcome.error is not None and outcome.error.code == "AdminOnly"


async def test_tables_count_live_and_pages_walk_a_large_table_by_any_index(
        t: ReactorTest) -> None:
    await t.mutation("items:fill", {"count": 1200})
    assert await t.query(f"{D}tables", {"tick": 1}) == [
        {"name": "items", "count": 1200, "declared": True}]
    await t.mutation("items:fill", {"count": 3, "start": 5000})
    assert (await t.query(f"{D}tables", {"tick": 2}))[0]["count"] == 1203
    removed = await _page(t)
    await t.mutation(f"{D}remove", {"ids": [d["_id"] for d in removed["page"][:3]]})
    assert (await t.query(f"{D}tables", {"tick": 3}))[0]["count"] == 1200
    await t.mutation("items:fill", {"count": 3, "start": 5000})
    seen, cursor, pages = [], None, 0
    while True:
        page = await _page(t, cursor, index="by_n", order="asc")
        assert len(page["page"]) <= 50
        seen += [doc["n"] for doc in page["page"]]
        pages += 1
        if page["isDone"]:
            break
        cursor = page["continueCursor"]
    assert seen == sorted(seen) and len(seen) == 1203 and pages >= 24
    newest = await _page(t)  # by creation time, newest first
    assert [d["n"] for d in newest["page"][:3]] == [5002, 5001, 5000]


async def test_filters_use_the_index_prefix_and_check_other_fields(t: ReactorTest) -> None:
    await t.mutation("items:fill", {"count": 40})
    odd = await _page(t, index="by_tag_n", order="asc",
                      filters=[{"field": "tag", "value": "odd"}])
    assert [d["n"] for d in odd["page"]] == list(range(1, 40, 2))
    one = await _page(t, filters=[{"field": "n", "value": 7}])
    assert [d["title"] for d in one["page"]] == ["item 7"]
    none = await _page(t, filters=[{"field": "tag", "value": True}])
    assert none["page"] == []


async def test_writes_are_checked_against_the_schema_with_the_field_named(
        t: ReactorTest) -> None:
    bad = await t.mutation(f"{D}insert", {"table": "items", "document": {"title": 3, "n": 1}})
    assert bad["ok"] is False
    assert bad["errors"][0]["field"] == "title"
    assert "string" in bad["errors"][0]["message"]
    missing = await t.mutation(f"{D}insert", {"table": "items", "document": {"title": "x"}})
    assert missing["ok"] is False and "n" in missing["errors"][0]["message"]
    made = await t.mutation(f"{D}insert", {"table": "items",
                                           "document": {"title": "new", "n": 9}})
    assert made["ok"] is True
    doc_id = made["id"]
    edited = await t.mutation(f"{D}replace", {"id": doc_id, "document": {
        "_id": doc_id, "_creationTime": 1, "title": "edited", "n": 10}})
    assert edited == {"ok": True, "id": doc_id}
    assert (await t.query("items:by_n", {"n": 10}))["title"] == "edited"
    wrong = await t.mutation(f"{D}replace", {"id": doc_id, "document": {"title": "x",
                                                                         "n": "ten"}})
    assert wrong["ok"] is False and wrong["errors"][0]["field"] == "n"
    assert await t.mutation(f"{D}remove", {"ids": [doc_id]}) == 1
    assert await t.query("items:by_n", {"n": 10}) is None


async def test_functions_schedules_cancel_and_schema(t: ReactorTest) -> None:
    functions = {f["path"]: f for f in await t.query(f"{D}functions")}
    assert functions["items:secret"]["visibility"] == "internal"
    assert functions["items:greet"]["kind"] == "mutation"
    assert functions["items:greet"]["returns"] == {"type": "string"}
    assert not any(path.startswith("_system/") for path in functions)
    job = await t.mutation("items:later", {"title": "t", "delay": 3600})
    schedules = await t.query(f"{D}schedules")
    assert [c["name"] for c in schedules["crons"]] == ["tidy items"]
    assert schedules["crons"][0]["nextRunTime"] > 0
    assert [(j["_id"], j["state"]["kind"]) for j in schedules["jobs"]] == [(job, "pending")]
    await t.mutation(f"{D}cancelJob", {"id": job})
    assert (await t.query(f"{D}schedules"))["jobs"][0]["state"]["kind"] == "canceled"
    schema = await t.query(f"{D}schema")
    items = schema["tables"][0]
    assert items["name"] == "items" and items["declared"] is True
    assert {i["name"] for i in items["indexes"]} >= {"by_n", "by_tag_n", "by_id"}
    assert items["validator"]["type"] == "object"


def test_login_codes_work_once_and_only_for_their_deployment() -> None:
    key = AdminKey("reactor_admin_one")
    now = [1000.0]
    codes = LoginCodes(lambda: key, clock=lambda: now[0])
    code = make_code(key.value, now=now[0])
    assert codes.redeem(code) is True
    assert codes.redeem(code) is False  # single use
    assert codes.redeem(make_code("reactor_admin_other", now=now[0])) is False
    late = make_code(key.value, now=now[0], ttl_s=60)
    now[0] += 61
    assert codes.redeem(late) is False  # expired
    for junk in (None, "", "1.2", "x.y.z", "9" * 300):
        assert codes.redeem(junk) is False


async def test_a_filter_no_index_serves_reads_a_bounded_stretch_per_page(
        t: ReactorTest) -> None:
    """A rare value in a large table: short pages that go on, never a read past the
    transaction's limits (the table here is just over one page's reading budget)."""
    total = SCAN_BUDGET + 300
    await t.mutation("items:fill", {"count": total})
    wanted = [{"field": "title", "value": "item 0"}]  # the oldest; pages go newest first
    first = await _page(t, filters=wanted)
    assert first["page"] == [] and first["isDone"] is False
    assert first["scanned"] == SCAN_BUDGET
    second = await _page(t, first["continueCursor"], filters=wanted)
    assert [d["n"] for d in second["page"]] == [0]
    assert second["isDone"] is True and second["scanned"] == total - SCAN_BUDGET
    common = await _page(t, filters=[{"field": "tag", "value": "odd"}])
    assert len(common["page"]) >= 50 and common["scanned"] <= 512


async def test_system_functions_stay_on_the_event_loop() -> None:
    """Calls that hold the loop move to worker processes, which load the app's functions
    only: a system function must stay (it failed there with a KeyError)."""
    async with ReactorTest(APP, workers=1) as t:
        if t.engine.pool is None:
            pytest.skip("worker processes are not available here")
        t.engine.pool.slice_s = 0.0  # every step of an app function would move
        await t.mutation("items:fill", {"count": 600})
        page = await _page(t, filters=[{"field": "tag", "value": "odd"}])
        assert len(page["page"]) >= 50
        assert (await t.query(f"{D}tables", {"tick": 1}))[0]["count"] == 600
