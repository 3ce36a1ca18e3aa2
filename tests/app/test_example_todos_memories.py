"""The example app's agent todos (the `todo_write` tool) and repository memories."""

from __future__ import annotations

from typing import Any

from example_app_support import Member, expect_error, new_task

from reactor.testing import ReactorTest


async def write(member: Member, task_id: str, merge: bool,
                *todos: tuple[str, str, str]) -> dict[str, Any]:
    return await member.client.mutation("todos:write", {
        "taskId": task_id, "merge": merge,
        "todos": [{"id": i, "content": c, "status": s} for i, c, s in todos]})


async def todo_list(member: Member, task_id: str) -> list[tuple[str, str, str, float]]:
    rows = await member.client.query("todos:byTask", {"taskId": task_id})
    return [(row["todoId"], row["content"], row["status"], row["sequence"]) for row in rows]


async def test_write_without_merge_replaces_the_list(alice: Member) -> None:
    task_id = await new_task(alice)
    counts = await write(alice, task_id, False, ("a", "Read code", "completed"),
                         ("b", "Fix bug", "in_progress"), ("c", "Test", "Pending"))
    assert counts == {"total": 3, "completed": 1}
    assert await todo_list(alice, task_id) == [("a", "Read code", "COMPLETED", 0),
                                               ("b", "Fix bug", "IN_PROGRESS", 1),
                                               ("c", "Test", "PENDING", 2)]
    counts = await write(alice, task_id, False, ("x", "Start over", "pending"))
    assert counts == {"total": 1, "completed": 0}
    assert await todo_list(alice, task_id) == [("x", "Start over", "PENDING", 0)]


async def test_write_with_merge_upserts_by_todo_id(alice: Member) -> None:
    task_id = await new_task(alice)
    await write(alice, task_id, False, ("a", "Read code", "pending"),
                ("b", "Fix bug", "pending"), ("c", "Test", "pending"))
    counts = await write(alice, task_id, True, ("c", "Test it all", "completed"),
                         ("d", "Open PR", "cancelled"))
    assert counts == {"total": 4, "completed": 1}
    assert sorted(await todo_list(alice, task_id)) == [
        ("a", "Read code", "PENDING", 0), ("b", "Fix bug", "PENDING", 1),
        ("c", "Test it all", "COMPLETED", 0), ("d", "Open PR", "CANCELLED", 1)]
    other_task = await new_task(alice)
    assert await write(alice, other_task, True, ("a", "Elsewhere", "completed")) == {
        "total": 1, "completed": 1}
    assert len(await todo_list(alice, task_id)) == 4


async def test_a_bad_status_is_refused_with_its_position(alice: Member) -> None:
    task_id = await new_task(alice)
    await write(alice, task_id, False, ("a", "Keep me", "pending"))
    data = await expect_error(write(alice, task_id, False, ("b", "ok", "pending"),
                                    ("c", "bad", "done")), "InvalidTodoStatus")
    assert (data["index"], data["status"]) == (1, "done")
    assert data["expected"] == ["PENDING", "IN_PROGRESS", "COMPLETED", "CANCELLED"]
    await expect_error(write(alice, task_id, False, ("b", "one", "pending"),
                             ("b", "two", "pending")), "InvalidArgument")
    assert await todo_list(alice, task_id) == [("a", "Keep me", "PENDING", 0)]


async def add_memory(member: Member, task_id: str, content: str, category: str) -> str:
    return await member.client.mutation("memories:add", {
        "taskId": task_id, "content": content, "category": category})


async def test_memories_are_ordered_by_category_then_newest_first(alice: Member,
                                                                  bob: Member) -> None:
    task_id = await new_task(alice)
    for content, category in (("old general", "GENERAL"), ("uses pytest", "TESTING"),
                              ("new general", "GENERAL"), ("docker compose", "INFRA"),
                              ("run make dev", "SETUP")):
        await add_memory(alice, task_id, content, category)
    other_repo = await new_task(alice, repoFullName="acme/other")
    await add_memory(alice, other_repo, "elsewhere", "INFRA")
    await add_memory(bob, await new_task(bob), "bob's note", "INFRA")
    listed = await alice.client.query("memories:list", {"repoFullName": "acme/widgets"})
    assert [(m["category"], m["content"]) for m in listed] == [
        ("INFRA", "docker compose"), ("SETUP", "run make dev"), ("TESTING", "uses pytest"),
        ("GENERAL", "new general"), ("GENERAL", "old general")]
    assert {(m["repoFullName"], m["repoUrl"], m["userId"], m["taskId"]) for m in listed} == {
        ("acme/widgets", "https://github.com/acme/widgets", alice.user_id, task_id)}
    general = await alice.client.query("memories:list", {"repoFullName": "acme/widgets",
                                                         "category": "GENERAL"})
    assert [m["content"] for m in general] == ["new general", "old general"]
    grouped = await alice.client.query("memories:listGrouped", {"repoFullName": "acme/widgets"})
    assert [(g["category"], [m["content"] for m in g["memories"]]) for g in grouped] == [
        ("INFRA", ["docker compose"]), ("SETUP", ["run make dev"]),
        ("TESTING", ["uses pytest"]), ("GENERAL", ["new general", "old general"])]


async def test_memories_format_for_a_prompt(alice: Member) -> None:
    assert await alice.client.query("memories:forPrompt", {"repoFullName": "acme/widgets"}) == ""
    task_id = await new_task(alice)
    await add_memory(alice, task_id, "uses pytest", "TESTING")
    await add_memory(alice, task_id, "  docker compose  ", "INFRA")
    assert await alice.client.query("memories:forPrompt", {"repoFullName": "acme/widgets"}) == (
        "## REPOSITORY MEMORIES\n- [INFRA] docker compose\n- [TESTING] uses pytest")


async def test_only_the_owner_removes_a_memory(t: ReactorTest, alice: Member,
                                               bob: Member) -> None:
    memory_id = await add_memory(alice, await new_task(alice), "secret sauce", "PATTERNS")
    data = await expect_error(bob.client.mutation("memories:remove", {"memoryId": memory_id}),
                              "Forbidden")
    assert data["id"] == memory_id
    assert len(await alice.client.query("memories:list", {"repoFullName": "acme/widgets"})) == 1
    await alice.client.mutation("memories:remove", {"memoryId": memory_id})
    assert await alice.client.query("memories:list", {"repoFullName": "acme/widgets"}) == []
    await expect_error(alice.client.mutation("memories:remove", {"memoryId": memory_id}),
                       "NotFound")
    await expect_error(alice.client.mutation("memories:add", {
        "taskId": await new_task(alice), "content": "x", "category": "NOPE"}),
        "ArgsValidation")
