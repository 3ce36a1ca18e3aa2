"""The example app's chat: sequences under concurrency, edits, stacked tasks, streaming."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import itertools
import time
from types import ModuleType
from typing import Any

from example_app_support import APP_DIR, Member, expect_error, get_task, integrity, new_task
from hypothesis import given
from hypothesis import strategies as st

from reactor.testing import ReactorTest


def load_parts() -> ModuleType:
    """`functions/_lib/parts.py` on its own: pure functions, no engine needed."""
    spec = importlib.util.spec_from_file_location("example_app_parts",
                                                  APP_DIR / "functions" / "_lib" / "parts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


parts_module = load_parts()


async def append(member: Member, task_id: str, content: str, role: str = "USER",
                 **extra: Any) -> dict[str, Any]:
    return await member.client.mutation("messages:append", {
        "taskId": task_id, "content": content, "role": role, **extra})


async def messages(member: Member, task_id: str) -> list[dict[str, Any]]:
    return await member.client.query("messages:byTask", {"taskId": task_id})


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


async def test_append_numbers_messages_per_task_and_lists_them_in_order(alice: Member) -> None:
    task_a = await new_task(alice, message="first")
    task_b = await new_task(alice)
    second = await append(alice, task_a, "second", "ASSISTANT", llmModel="model-m")
    assert set(second) == {"messageId", "sequence"} and second["sequence"] == 2
    assert (await append(alice, task_b, "other"))["sequence"] == 1
    rows = await messages(alice, task_a)
    assert [(m["sequence"], m["role"], m["content"]) for m in rows] == [
        (1, "USER", "first"), (2, "ASSISTANT", "second")]
    assert rows[1]["_id"] == second["messageId"] and rows[1]["llmModel"] == "model-m"
    await expect_error(append(alice, task_a, "x", "ROBOT"), "ArgsValidation")


async def test_history_pages_newest_first_with_either_clients_options(alice: Member) -> None:
    task_id = await new_task(alice, message="m1")
    for n in range(2, 8):
        await append(alice, task_id, f"m{n}")
    seen: list[str] = []
    cursor = None
    while True:
        # The official client adds id and maximum* fields; reactor-client sends id.
        page = await alice.client.query("messages:page", {"taskId": task_id, "paginationOpts": {
            "numItems": 3, "cursor": cursor, "id": 1, "maximumRowsRead": 1000}})
        seen += [m["content"] for m in page["page"]]
        if page["isDone"]:
            break
        cursor = page["continueCursor"]
    assert seen == [f"m{n}" for n in range(7, 0, -1)]
    await expect_error(alice.client.query("messages:page", {
        "taskId": task_id, "paginationOpts": {"numItems": 3}}), "ArgsValidation")


async def test_append_checks_the_metadata_shape(alice: Member) -> None:
    task_id = await new_task(alice)
    metadata = {
        "parts": [text("hi"), {"type": "reasoning", "text": "think", "signature": "sig"},
                  {"type": "redacted-reasoning", "data": "xyz"},
                  {"type": "error", "error": "oops", "finishReason": "error"}],
        "checkpoint": {"commitSha": "abc", "createdAt": 1.0, "workspaceState": {"dirty": False},
                       "todoSnapshot": [{"id": "1", "content": "a", "status": "PENDING",
                                         "sequence": 0}]}}
    await append(alice, task_id, "hi", "ASSISTANT", metadata=metadata)
    assert (await messages(alice, task_id))[0]["metadata"] == metadata
    await expect_error(append(alice, task_id, "x", "ASSISTANT",
                              metadata={"parts": [{"type": "image", "url": "u"}]}),
                       "ArgsValidation")


async def test_fifty_concurrent_appends_get_sequences_one_to_fifty(alice: Member) -> None:
    task_id = await new_task(alice)
    results = await asyncio.gather(*(append(alice, task_id, f"message {n}") for n in range(50)))
    assert sorted(result["sequence"] for result in results) == list(range(1, 51))
    rows = await messages(alice, task_id)
    assert [row["sequence"] for row in rows] == list(range(1, 51))
    by_id = {row["_id"]: row["sequence"] for row in rows}
    assert all(by_id[result["messageId"]] == result["sequence"] for result in results)
    assert {row["content"] for row in rows} == {f"message {n}" for n in range(50)}


async def test_editing_a_user_message_drops_every_later_message(t: ReactorTest,
                                                                alice: Member) -> None:
    task_id = await new_task(alice, message="one")
    await append(alice, task_id, "answer one", "ASSISTANT")
    await append(alice, task_id, "two")
    answer_two = await append(alice, task_id, "answer two", "ASSISTANT")
    await alice.client.mutation("pullRequests:record", {
        "messageId": answer_two["messageId"], "title": "PR", "description": "d",
        "filesChanged": 1, "linesAdded": 1, "linesRemoved": 0, "commitSha": "abc"})
    one, answer_one, two, _ = await messages(alice, task_id)
    await expect_error(alice.client.mutation("messages:edit", {
        "messageId": answer_one["_id"], "content": "no"}), "NotEditable")
    await alice.client.mutation("messages:edit", {"messageId": two["_id"], "content": "two!"})
    assert [m["content"] for m in await messages(alice, task_id)] == ["one", "answer one",
                                                                      "two!"]
    assert (await integrity(t))["counts"]["pullRequestSnapshots"] == 0
    await alice.client.mutation("messages:edit", {"messageId": one["_id"], "content": "one!",
                                                  "llmModel": "model-z"})
    rows = await messages(alice, task_id)
    assert [(m["sequence"], m["content"], m["llmModel"]) for m in rows] == [
        (1, "one!", "model-z")]
    assert rows[0]["editedAt"] >= rows[0]["createdAt"]
    assert (await append(alice, task_id, "three"))["sequence"] == 2
    assert (await integrity(t))["orphans"] == []


async def test_editing_after_a_completed_run_runs_the_task_again(t: ReactorTest,
                                                                 alice: Member) -> None:
    task_id = await new_task(alice, message="one")
    await alice.client.mutation("tasks:setStatus", {"taskId": task_id, "status": "RUNNING"})
    await alice.client.mutation("tasks:setStatus", {"taskId": task_id, "status": "COMPLETED"})
    job_id = (await get_task(alice, task_id))["cleanupJobId"]
    first = (await messages(alice, task_id))[0]
    await alice.client.mutation("messages:edit", {"messageId": first["_id"], "content": "1"})
    task = await get_task(alice, task_id)
    assert task["status"] == "RUNNING" and "cleanupJobId" not in task
    assert (await t.query("integrity:job", {"jobId": job_id}))["state"] == {"kind": "canceled"}


async def test_a_message_links_to_the_task_stacked_on_it(alice: Member, bob: Member) -> None:
    parent = await new_task(alice, message="split this up")
    child = await new_task(alice)
    message_id = (await messages(alice, parent))[0]["_id"]
    await alice.client.mutation("messages:linkStackedTask", {"messageId": message_id,
                                                             "stackedTaskId": child})
    assert (await messages(alice, parent))[0]["stackedTaskId"] == child
    await expect_error(alice.client.mutation("messages:linkStackedTask", {
        "messageId": message_id, "stackedTaskId": parent}), "InvalidArgument")
    await expect_error(alice.client.mutation("messages:linkStackedTask", {
        "messageId": message_id, "stackedTaskId": await new_task(bob)}), "Forbidden")


async def stream(member: Member, task_id: str, *batches: list[dict[str, Any]]) -> str:
    started = await member.client.mutation("messages:startAssistant", {
        "taskId": task_id, "llmModel": "model-s"})
    for batch in batches:
        await member.client.mutation("messages:appendParts", {
            "messageId": started["messageId"], "parts": batch})
    return started["messageId"]


async def test_a_streamed_answer_grows_by_parts_and_finish_seals_it(alice: Member) -> None:
    task_id = await new_task(alice, message="explain")
    call = {"type": "tool-call", "toolCallId": "c1", "toolName": "read_file",
            "args": {"path": "a.py"}}
    result = {"type": "tool-result", "toolCallId": "c1", "toolName": "read_file",
              "result": {"text": "print(1)"}}
    message_id = await stream(alice, task_id, [text("Hel"), text("lo")],
                              [text(" wor"), text("ld"), call], [result, text("Done.")])
    assert (await get_task(alice, task_id))["status"] == "RUNNING"
    live = (await messages(alice, task_id))[-1]
    assert (live["_id"], live["role"], live["sequence"]) == (message_id, "ASSISTANT", 2)
    assert live["metadata"] == {"isStreaming": True,
                                "parts": [text("Hello world"), call, result, text("Done.")]}
    assert live["content"] == "Hello worldDone."
    await alice.client.mutation("messages:finish", {
        "messageId": message_id, "finishReason": "stop",
        "usage": {"promptTokens": 10, "completionTokens": 5, "totalTokens": 15}})
    final = (await messages(alice, task_id))[-1]
    assert final["content"] == "Hello worldDone."
    assert final["metadata"]["isStreaming"] is False
    assert final["metadata"]["finishReason"] == final["finishReason"] == "stop"
    assert final["metadata"]["parts"] == live["metadata"]["parts"]
    assert (final["promptTokens"], final["completionTokens"], final["totalTokens"]) == (10, 5, 15)
    task = await get_task(alice, task_id)
    assert task["status"] == "COMPLETED" and "cleanupJobId" in task
    for path, args in (("messages:appendParts", {"parts": [text("more")]}),
                       ("messages:finish", {"finishReason": "stop"})):
        await expect_error(alice.client.mutation(path, {"messageId": message_id, **args}),
                           "NotStreaming")
    user_message = (await messages(alice, task_id))[0]["_id"]
    await expect_error(alice.client.mutation("messages:appendParts", {
        "messageId": user_message, "parts": [text("x")]}), "NotStreaming")


async def test_an_answer_ending_in_an_error_fails_the_task(alice: Member) -> None:
    task_id = await new_task(alice, message="go")
    message_id = await stream(alice, task_id, [text("Trying"), {
        "type": "error", "error": "rate limited", "finishReason": "error"}])
    await alice.client.mutation("messages:finish", {"messageId": message_id,
                                                    "finishReason": "error"})
    task = await get_task(alice, task_id)
    assert (task["status"], task["errorMessage"]) == ("FAILED", "rate limited")


async def test_finishing_after_a_stop_keeps_the_task_stopped(alice: Member) -> None:
    task_id = await new_task(alice, message="go")
    message_id = await stream(alice, task_id, [text("partial")])
    await alice.client.mutation("tasks:stop", {"taskId": task_id})
    await alice.client.mutation("messages:finish", {"messageId": message_id,
                                                    "finishReason": "stop"})
    assert (await get_task(alice, task_id))["status"] == "STOPPED"
    assert (await messages(alice, task_id))[-1]["metadata"]["isStreaming"] is False


async def test_subscribers_see_the_answer_grow_live(alice: Member) -> None:
    task_id = await new_task(alice, message="hi")
    message_id = await stream(alice, task_id)
    async with alice.client.subscribe("messages:byTask", {"taskId": task_id}) as sub:
        assert (await sub.next(timeout=5))[-1]["content"] == ""
        for delta, expected in (("Hel", "Hel"), ("lo", "Hello")):
            await alice.client.mutation("messages:appendParts", {
                "messageId": message_id, "parts": [text(delta)]})
            assert (await sub.next(timeout=5))[-1]["content"] == expected
        await alice.client.mutation("messages:finish", {"messageId": message_id,
                                                        "finishReason": "stop"})
        final = (await sub.next(timeout=5))[-1]
        assert (final["content"], final["metadata"]["isStreaming"]) == ("Hello", False)


part = st.one_of(
    st.builds(text, st.text(max_size=4)),
    st.builds(lambda call_id: {"type": "tool-call", "toolCallId": call_id, "toolName": "t",
                               "args": {}}, st.text(max_size=3)),
    st.builds(lambda data: {"type": "redacted-reasoning", "data": data}, st.text(max_size=3)),
)


@given(st.lists(st.lists(part, max_size=6), max_size=6))
def test_merging_keeps_the_text_and_the_other_parts_whatever_the_batching(
        batches: list[list[dict[str, Any]]]) -> None:
    original = copy.deepcopy(batches)
    merged: list[dict[str, Any]] = []
    for batch in batches:
        merged = parts_module.merge_parts(merged, batch)
    flat = [item for batch in batches for item in batch]
    assert batches == original
    assert parts_module.joined_text(merged) == "".join(
        item["text"] for item in flat if item["type"] == "text")
    assert [p for p in merged if p["type"] != "text"] == [p for p in flat if p["type"] != "text"]
    assert not any(a["type"] == b["type"] == "text" for a, b in itertools.pairwise(merged))
    assert all(p["text"] for p in merged if p["type"] == "text")
    assert merged == parts_module.merge_parts([], flat)


def test_merging_a_long_run_of_deltas_is_linear() -> None:
    deltas = [text("x")] * 200_000
    started = time.perf_counter()
    merged = parts_module.merge_parts([text("start")], deltas)
    elapsed = time.perf_counter() - started
    assert merged == [text("start" + "x" * 200_000)]
    # The run is joined once; re-joining it delta by delta copies 2·10¹⁰ characters.
    assert elapsed < 1.0
