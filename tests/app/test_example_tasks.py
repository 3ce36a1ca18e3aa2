"""The example app's tasks: creation, the active-task limit, status transitions, init, cleanup."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from example_app_support import TASK_ARGS, Member, expect_error, get_task, new_task

from reactor.testing import ReactorTest
from reactor.values import new_id

STATUSES = ("INITIALIZING", "RUNNING", "COMPLETED", "STOPPED", "FAILED", "ARCHIVED")
# The transition table of docs/guide/example-app.md, written out apart from the code.
ALLOWED = {
    ("INITIALIZING", "RUNNING"), ("INITIALIZING", "STOPPED"), ("INITIALIZING", "FAILED"),
    ("INITIALIZING", "ARCHIVED"),
    ("RUNNING", "COMPLETED"), ("RUNNING", "STOPPED"), ("RUNNING", "FAILED"),
    ("RUNNING", "ARCHIVED"),
    ("COMPLETED", "RUNNING"), ("COMPLETED", "ARCHIVED"),
    ("STOPPED", "RUNNING"), ("STOPPED", "ARCHIVED"),
    ("FAILED", "RUNNING"), ("FAILED", "ARCHIVED"),
}
# How a new (INITIALIZING) task reaches each status.
PATH_TO = {"INITIALIZING": [], "RUNNING": ["RUNNING"], "COMPLETED": ["RUNNING", "COMPLETED"],
           "STOPPED": ["STOPPED"], "FAILED": ["FAILED"], "ARCHIVED": ["ARCHIVED"]}
INIT_STEPS = {
    "remote": ["CREATE_VM", "WAIT_VM_READY", "VERIFY_VM_WORKSPACE", "START_BACKGROUND_SERVICES",
               "INSTALL_DEPENDENCIES", "COMPLETE_SHADOW_WIKI"],
    "local": ["PREPARE_WORKSPACE", "START_BACKGROUND_SERVICES", "INSTALL_DEPENDENCIES",
              "COMPLETE_SHADOW_WIKI"],
    "scratchpad": ["PREPARE_WORKSPACE"],
}
FIFTEEN_MINUTES_MS = 15 * 60 * 1000


async def set_status(member: Member, task_id: str, status: str) -> None:
    args: dict[str, Any] = {"taskId": task_id, "status": status}
    if status == "FAILED":
        args["errorMessage"] = "boom"
    await member.client.mutation("tasks:setStatus", args)


async def advance(member: Member, task_id: str, mode: str) -> str:
    result = await member.client.mutation("tasks:advanceInit", {"taskId": task_id, "mode": mode})
    return result["initStatus"]


async def test_create_returns_the_task_id_and_applies_the_defaults(alice: Member) -> None:
    created = await alice.client.mutation("tasks:create", TASK_ARGS)
    assert list(created) == ["taskId"]
    task_id = created["taskId"]
    task = await get_task(alice, task_id)
    assert {name: task[name] for name in ("status", "initStatus", "isScratchpad",
                                          "workspaceCleanedUp", "hasBeenInitialized", "userId",
                                          "baseCommitSha", "shadowBranch")} == {
        "status": "INITIALIZING", "initStatus": "INACTIVE", "isScratchpad": False,
        "workspaceCleanedUp": False, "hasBeenInitialized": False, "userId": alice.user_id,
        "baseCommitSha": "", "shadowBranch": f"shadow/task-{task_id}"}
    assert task["createdAt"] == task["updatedAt"]
    assert not {"errorMessage", "scheduledCleanupAt", "cleanupJobId", "mainModel"} & set(task)
    assert await alice.client.query("messages:byTask", {"taskId": task_id}) == []


async def test_create_with_a_message_starts_the_conversation(alice: Member) -> None:
    task_id = await new_task(alice, message="Please fix it", mainModel="model-x",
                             shadowBranch="shadow/custom", baseCommitSha="abc",
                             isScratchpad=True)
    messages = await alice.client.query("messages:byTask", {"taskId": task_id})
    assert [(m["sequence"], m["role"], m["content"], m["llmModel"]) for m in messages] == [
        (1, "USER", "Please fix it", "model-x")]
    task = await get_task(alice, task_id)
    assert (task["shadowBranch"], task["baseCommitSha"], task["isScratchpad"],
            task["status"]) == ("shadow/custom", "abc", True, "INITIALIZING")


async def test_create_refuses_a_malformed_repository_and_an_empty_title(alice: Member) -> None:
    data = await expect_error(new_task(alice, repoFullName="widgets"), "InvalidArgument")
    assert data["field"] == "repoFullName"
    data = await expect_error(new_task(alice, title="   "), "InvalidArgument")
    assert data["field"] == "title"


async def test_only_active_tasks_count_toward_the_limit(alice: Member, bob: Member) -> None:
    ids = [await new_task(alice) for _ in range(5)]
    data = await expect_error(new_task(alice), "TaskLimitReached")
    assert data["limit"] == 5
    await new_task(bob)
    await set_status(alice, ids[0], "STOPPED")
    await expect_error(new_task(alice), "TaskLimitReached")
    for task_id, path in ((ids[1], ["RUNNING", "COMPLETED"]), (ids[2], ["FAILED"]),
                          (ids[3], ["ARCHIVED"])):
        for status in path:
            await set_status(alice, task_id, status)
        await new_task(alice)
        await expect_error(new_task(alice), "TaskLimitReached")


async def test_every_status_transition_is_allowed_or_refused_per_the_table(
        alice: Member) -> None:
    for source, target in itertools.product(STATUSES, STATUSES):
        task_id = await new_task(alice)
        for status in PATH_TO[source]:
            await set_status(alice, task_id, status)
        if (source, target) in ALLOWED:
            await set_status(alice, task_id, target)
            assert (await get_task(alice, task_id))["status"] == target
        else:
            data = await expect_error(set_status(alice, task_id, target), "InvalidTransition")
            assert (data["from"], data["to"]) == (source, target)
            assert (await get_task(alice, task_id))["status"] == source
        await alice.client.mutation("tasks:remove", {"taskId": task_id})


async def test_stop_and_archive_are_transitions_too(alice: Member) -> None:
    task_id = await new_task(alice)
    await alice.client.mutation("tasks:stop", {"taskId": task_id})
    assert (await get_task(alice, task_id))["status"] == "STOPPED"
    await alice.client.mutation("tasks:archive", {"taskId": task_id})
    assert (await get_task(alice, task_id))["status"] == "ARCHIVED"
    data = await expect_error(alice.client.mutation("messages:append", {
        "taskId": task_id, "content": "again?", "role": "USER"}), "InvalidTransition")
    assert (data["from"], data["to"]) == ("ARCHIVED", "RUNNING")


async def test_an_error_message_goes_with_failed_only(alice: Member) -> None:
    task_id = await new_task(alice)
    data = await expect_error(alice.client.mutation("tasks:setStatus", {
        "taskId": task_id, "status": "FAILED"}), "InvalidArgument")
    assert data["field"] == "errorMessage"
    await expect_error(alice.client.mutation("tasks:setStatus", {
        "taskId": task_id, "status": "RUNNING", "errorMessage": "not an error"}),
        "InvalidArgument")
    await alice.client.mutation("tasks:setStatus", {
        "taskId": task_id, "status": "FAILED", "errorMessage": "the VM died"})
    assert (await get_task(alice, task_id))["errorMessage"] == "the VM died"
    await alice.client.mutation("messages:append", {
        "taskId": task_id, "content": "try again", "role": "USER"})
    task = await get_task(alice, task_id)
    assert task["status"] == "RUNNING" and "errorMessage" not in task


async def test_init_walks_the_step_list_of_each_mode_and_ends_active(alice: Member) -> None:
    for mode, steps in INIT_STEPS.items():
        task_id = await new_task(alice, isScratchpad=mode == "scratchpad")
        seen = []
        for _ in range(len(steps) + 1):
            seen.append(await advance(alice, task_id, mode))
            task = await get_task(alice, task_id)
            assert task["initStatus"] == seen[-1]
            assert task["hasBeenInitialized"] is (seen[-1] == "ACTIVE")
        assert seen == [*steps, "ACTIVE"]
        data = await expect_error(advance(alice, task_id, mode), "InvalidTransition")
        assert data["from"] == "ACTIVE"
        await alice.client.mutation("tasks:remove", {"taskId": task_id})


async def test_init_refuses_a_mode_that_does_not_fit_the_task(alice: Member) -> None:
    repo_task = await new_task(alice)
    scratchpad = await new_task(alice, isScratchpad=True)
    await expect_error(advance(alice, repo_task, "scratchpad"), "InvalidInitMode")
    await expect_error(advance(alice, scratchpad, "local"), "InvalidInitMode")
    assert await advance(alice, repo_task, "remote") == "CREATE_VM"
    data = await expect_error(advance(alice, repo_task, "local"), "InvalidTransition")
    assert (data["from"], data["mode"]) == ("CREATE_VM", "local")


async def test_a_failed_init_keeps_its_step_and_a_retry_starts_over(alice: Member) -> None:
    task_id = await new_task(alice)
    await expect_error(alice.client.mutation("tasks:failInit", {
        "taskId": task_id, "error": "too early"}), "InitNotInProgress")
    await advance(alice, task_id, "local")
    await advance(alice, task_id, "local")
    await alice.client.mutation("tasks:failInit", {"taskId": task_id,
                                                   "error": "services did not start"})
    task = await get_task(alice, task_id)
    assert (task["initStatus"], task["initializationError"], task["status"],
            task["errorMessage"]) == ("START_BACKGROUND_SERVICES", "services did not start",
                                      "FAILED", "services did not start")
    assert "cleanupJobId" in task
    assert await advance(alice, task_id, "local") == "PREPARE_WORKSPACE"
    assert "initializationError" not in await get_task(alice, task_id)


@pytest.mark.parametrize("ending", [["RUNNING", "COMPLETED"], ["RUNNING", "FAILED"],
                                    ["STOPPED"]])
async def test_the_end_of_a_run_schedules_cleanup_in_15_minutes(
        t: ReactorTest, alice: Member, ending: list[str]) -> None:
    task_id = await new_task(alice)
    for status in ending:
        await set_status(alice, task_id, status)
    task = await get_task(alice, task_id)
    assert task["scheduledCleanupAt"] - task["updatedAt"] == FIFTEEN_MINUTES_MS
    job = await t.query("integrity:job", {"jobId": task["cleanupJobId"]})
    assert (job["name"], job["args"], job["state"], job["scheduledTime"]) == (
        "tasks:cleanup", [{"taskId": task_id}], {"kind": "pending"}, task["scheduledCleanupAt"])
    assert await t.run_scheduled() == 0, "a cleanup due in 15 minutes ran now"
    assert (await get_task(alice, task_id))["workspaceCleanedUp"] is False


async def test_archiving_a_running_task_schedules_nothing(alice: Member) -> None:
    task_id = await new_task(alice)
    await set_status(alice, task_id, "RUNNING")
    await set_status(alice, task_id, "ARCHIVED")
    assert not {"cleanupJobId", "scheduledCleanupAt"} & set(await get_task(alice, task_id))


async def test_a_new_user_message_cancels_the_pending_cleanup(t: ReactorTest,
                                                              alice: Member) -> None:
    task_id = await new_task(alice)
    await set_status(alice, task_id, "RUNNING")
    await set_status(alice, task_id, "COMPLETED")
    job_id = (await get_task(alice, task_id))["cleanupJobId"]
    await alice.client.mutation("messages:append", {
        "taskId": task_id, "content": "one more thing", "role": "USER"})
    task = await get_task(alice, task_id)
    assert task["status"] == "RUNNING"
    assert not {"cleanupJobId", "scheduledCleanupAt"} & set(task)
    assert (await t.query("integrity:job", {"jobId": job_id}))["state"] == {"kind": "canceled"}
    await alice.client.mutation("tasks:stop", {"taskId": task_id})
    next_job = (await get_task(alice, task_id))["cleanupJobId"]
    assert next_job != job_id
    assert (await t.query("integrity:job", {"jobId": next_job}))["state"] == {"kind": "pending"}


async def test_cleanup_ends_active_sessions_and_resets_init(t: ReactorTest,
                                                            alice: Member) -> None:
    task_id = await new_task(alice)
    while await advance(alice, task_id, "local") != "ACTIVE":
        pass
    first = await alice.client.mutation("taskSessions:start", {"taskId": task_id,
                                                               "podName": "pod-1"})
    await alice.client.mutation("taskSessions:end", {"sessionId": first})
    ended_at = (await alice.client.query("taskSessions:byTask", {"taskId": task_id}))[0]["endedAt"]
    await alice.client.mutation("taskSessions:start", {"taskId": task_id, "podName": "pod-2"})
    await set_status(alice, task_id, "RUNNING")
    await set_status(alice, task_id, "COMPLETED")
    await t.mutation("tasks:cleanup", {"taskId": task_id})
    task = await get_task(alice, task_id)
    assert (task["initStatus"], task["workspaceCleanedUp"], task["hasBeenInitialized"]) == (
        "INACTIVE", True, True)
    assert not {"cleanupJobId", "scheduledCleanupAt"} & set(task)
    sessions = await alice.client.query("taskSessions:byTask", {"taskId": task_id})
    assert [(s["podName"], s["isActive"]) for s in sessions] == [("pod-1", False),
                                                                 ("pod-2", False)]
    assert sessions[0]["endedAt"] == ended_at and sessions[1]["endedAt"] >= ended_at
    await alice.client.mutation("tasks:remove", {"taskId": task_id})
    assert await t.mutation("tasks:cleanup", {"taskId": task_id}) is None


async def test_update_changes_the_editable_fields(alice: Member) -> None:
    task_id = await new_task(alice)
    await alice.client.mutation("tasks:update", {
        "taskId": task_id, "title": " New title ", "mainModel": "model-y",
        "workspacePath": "/work/ws", "pullRequestNumber": 7, "githubIssueId": "42"})
    task = await get_task(alice, task_id)
    assert (task["title"], task["mainModel"], task["workspacePath"], task["pullRequestNumber"],
            task["githubIssueId"]) == ("New title", "model-y", "/work/ws", 7, "42")
    assert task["updatedAt"] >= task["createdAt"]
    await expect_error(alice.client.mutation("tasks:update", {"taskId": task_id, "title": " "}),
                       "InvalidArgument")
    await expect_error(alice.client.mutation("tasks:update", {
        "taskId": task_id, "codebaseUnderstandingId": new_id("codebaseUnderstanding")}),
        "NotFound")


async def test_list_by_user_shows_the_callers_tasks_newest_first(alice: Member,
                                                                 bob: Member) -> None:
    first = await new_task(alice, title="first")
    second = await new_task(alice, title="second")
    bobs = await new_task(bob)
    assert [task["_id"] for task in await alice.client.query("tasks:listByUser")] == [second,
                                                                                      first]
    await set_status(alice, first, "RUNNING")
    running = await alice.client.query("tasks:listByUser", {"status": "RUNNING"})
    assert [task["_id"] for task in running] == [first]
    assert [task["_id"] for task in await bob.client.query("tasks:listByUser")] == [bobs]
