"""The agent: runs scheduled by user messages, and the records its subscribers read.

`run` is the action a user message schedules (functions/_lib/agent_runs.py); it
prepares the task's workspace, streams the model's answer into the chat and runs
its tools (functions/_lib/agent_run.py, agent_tools.py). Everything it writes
goes through the internal mutations below, each checking that the run may still
write (`may_write`): a stopped or replaced run stops at its next write. The
public queries are what the seed pushed over its socket: tool calls, file
changes and terminal output, live.
"""

from __future__ import annotations

from typing import Any

from reactor import (
    MISSING,
    ActionCtx,
    MutationCtx,
    QueryCtx,
    internal_action,
    internal_mutation,
    internal_query,
    mutation,
    query,
    v,
)

from ..schema import TaskId, file_change_kind, finish_reason, memory_category, message_part
from ..schema import usage as token_usage
from ._lib.agent_run import remove_workspace, run_agent
from ._lib.agent_runs import (
    INTERRUPTED,
    RECOVERY_BATCH,
    WRITABLE_STATUSES,
    lease_ms,
    may_write,
    renew_lease,
)
from ._lib.authz import Doc, require_task
from ._lib.chat import insert_message, visible_range
from ._lib.errors import app_error
from ._lib.lifecycle import on_agent_finish, on_agent_start, set_status
from ._lib.parts import joined_text, last_error, merge_parts
from .memories import insert_memory, user_repo_memories
from .tasks import advance_init, fail_init
from .todos import TodoCounts, TodoInput, write_todos

# A tool call's change in one write: a new call, its start, or its result.
call_update = v.object({
    "toolCallId": v.string(), "toolName": v.string(), "args": v.optional(v.any()),
    "status": v.union(v.literal("REQUESTED"), v.literal("RUNNING"), v.literal("SUCCEEDED"),
                      v.literal("FAILED")),
    "result": v.optional(v.any()),
})
answer_args = {"parts": v.array(message_part), "calls": v.array(call_update)}


@internal_action
async def run(ctx: ActionCtx, taskId: TaskId, runId: str, model: str) -> None:
    """One agent run for the task's newest user message (scheduled, never called by clients)."""
    await run_agent(ctx, taskId, runId, model)


@internal_action
async def removeWorkspace(ctx: ActionCtx, taskId: str) -> bool:
    """Delete a cleaned-up or deleted task's workspace folder (scheduled by tasks:cleanup
    and by deletes); whether there was one to delete."""
    return await remove_workspace(ctx, taskId)


@internal_query
async def workspaceUse(ctx: QueryCtx, taskId: str) -> str:
    """"gone" (deleted task), "inUse" (a run may use the folder) or "idle"."""
    task_id = ctx.db.normalize_id("tasks", taskId)
    task = None if task_id is None else await ctx.db.get(task_id)
    if task is None:
        return "gone"
    if task["status"] in WRITABLE_STATUSES or not task["workspaceCleanedUp"]:
        return "inUse"
    return "idle"


@internal_query
async def runStart(ctx: QueryCtx, taskId: TaskId, runId: str) -> Doc | None:
    """The task and its conversation for a run that may start; None when it may not."""
    task = await ctx.db.get(taskId)
    if task is None or not may_write(task, runId):
        return None
    messages = await (ctx.db.query("chatMessages")
                      .with_index("by_task_sequence", visible_range(task)).collect())
    history = [{"role": m["role"], "content": m["content"]} for m in messages
               if m["content"] and not m.get("metadata", {}).get("isStreaming")]
    return {"task": task, "history": history}


@internal_query
async def mayWrite(ctx: QueryCtx, taskId: TaskId, runId: str) -> bool:
    """Whether the run may go on (polled while the model is silent)."""
    return may_write(await ctx.db.get(taskId), runId)


@internal_mutation
async def renew(ctx: MutationCtx, taskId: TaskId, runId: str) -> float | None:
    """Extend the run's lease; its length in ms, or None when the run may not go on."""
    task = await ctx.db.get(taskId)
    if task is None or not may_write(task, runId):
        return None
    until = await renew_lease(ctx, task, runId)
    await ctx.db.patch(taskId, {"agentLeaseUntil": until})
    return await lease_ms(ctx)


@internal_mutation
async def watchdog(ctx: MutationCtx, taskId: TaskId, runId: str) -> None:
    """After a lease's end: a run still in charge whose lease ran out died with its server."""
    task = await ctx.db.get(taskId)
    if (task is None or task.get("agentRunId") != runId
            or task.get("agentLeaseUntil", 0) > ctx.now()):
        return
    await interrupt(ctx, task)


@internal_mutation(args={})
async def recoverRuns(ctx: MutationCtx) -> int:
    """At startup no run is alive: each task a run still owns was left so by the previous
    process, and is interrupted at once (100 a transaction, the rest in a follow-up)."""
    tasks = await (ctx.db.query("tasks")
                   .with_index("by_agent_run", lambda q: q.gt("agentRunId", ""))
                   .take(RECOVERY_BATCH))
    for task in tasks:
        await interrupt(ctx, task)
    if len(tasks) == RECOVERY_BATCH:
        await ctx.scheduler.run_after(0, "agent:recoverRuns", {})
    return len(tasks)


recoverRuns.on_startup = True


async def interrupt(ctx: MutationCtx, task: Doc) -> None:
    """A dead run's end: its answer sealed with an error part, its unfinished tool calls
    failed, the task FAILED (unless stopped meanwhile); a new message starts afresh."""
    last = await (ctx.db.query("chatMessages")
                  .with_index("by_task_sequence", visible_range(task)).order("desc").first())
    if last is not None and last["role"] == "ASSISTANT" and last["metadata"].get("isStreaming"):
        parts = merge_parts(last["metadata"].get("parts", []),
                            [{"type": "error", "error": INTERRUPTED, "finishReason": "error"}])
        await ctx.db.patch(last["_id"], {
            "content": joined_text(parts), "finishReason": "error",
            "metadata": {**last["metadata"], "parts": parts, "isStreaming": False,
                         "finishReason": "error"}})
        calls = await (ctx.db.query("toolCalls")
                       .with_index("by_task", lambda q: q.eq("taskId", task["_id"])).collect())
        for row in calls:
            if row["messageId"] == last["_id"] and row["status"] in ("REQUESTED", "RUNNING"):
                await ctx.db.patch(row["_id"], {"status": "FAILED", "updatedAt": ctx.now(),
                                                "result": {"error": INTERRUPTED}})
    if task["status"] in WRITABLE_STATUSES:
        await set_status(ctx, task, "FAILED", INTERRUPTED)
    await release(ctx, task["_id"])


async def release(ctx: MutationCtx, task_id: str) -> None:
    """The run is over: no run owns the task (nothing for the watchdog or recovery)."""
    await ctx.db.patch(task_id, {"agentRunId": MISSING, "agentLeaseUntil": MISSING})


async def tool_call(ctx: QueryCtx, task_id: str, tool_call_id: str) -> Doc | None:
    return await (ctx.db.query("toolCalls")
                  .with_index("by_call",
                              lambda q: q.eq("taskId", task_id).eq("toolCallId", tool_call_id))
                  .first())


async def record_calls(ctx: MutationCtx, task_id: str, message_id: str,
                       calls: list[Doc]) -> None:
    """Insert new tool calls and move known ones on (by the model's toolCallId)."""
    now = ctx.now()
    for call in calls:
        row = await tool_call(ctx, task_id, call["toolCallId"])
        fields: Doc = {"status": call["status"], "updatedAt": now}
        if "result" in call:
            fields["result"] = call["result"]
        if row is None:
            await ctx.db.insert("toolCalls", {
                **fields, "taskId": task_id, "messageId": message_id,
                "toolCallId": call["toolCallId"], "toolName": call["toolName"],
                "args": call.get("args", {}), "createdAt": now})
        else:
            await ctx.db.patch(row["_id"], fields)


@internal_mutation(args={"taskId": v.id("tasks"), "runId": v.string(), "llmModel": v.string(),
                         **answer_args})
async def startAnswer(ctx: MutationCtx, taskId: str, runId: str, llmModel: str,
                      parts: list[Doc], calls: list[Doc]) -> Doc | None:
    """The assistant message, created with the run's first parts (the task is RUNNING from
    here); None when the run may no longer write."""
    task = await ctx.db.get(taskId)
    if task is None or not may_write(task, runId):
        return None
    await on_agent_start(ctx, task)
    merged = merge_parts([], parts)
    created = await insert_message(ctx, task, joined_text(merged), "ASSISTANT", llmModel,
                                   {"isStreaming": True, "parts": merged})
    await record_calls(ctx, taskId, created["messageId"], calls)
    return created


async def streaming(ctx: QueryCtx, message_id: str) -> tuple[Doc | None, Doc]:
    message = await ctx.db.get(message_id)
    if message is None or not message.get("metadata", {}).get("isStreaming"):
        raise app_error("NotStreaming", f"message {message_id} is not being streamed",
                        id=message_id)
    return await ctx.db.get(message["taskId"]), message


@internal_mutation(args={"messageId": v.id("chatMessages"), "runId": v.string(),
                         **answer_args})
async def appendAnswer(ctx: MutationCtx, messageId: str, runId: str, parts: list[Doc],
                       calls: list[Doc]) -> bool:
    """Add a batch to the streaming answer; whether the run may go on (the batch is kept
    either way: what streamed before a stop stays)."""
    task, message = await streaming(ctx, messageId)
    metadata = message["metadata"]
    merged = merge_parts(metadata.get("parts", []), parts)
    await ctx.db.patch(messageId, {"content": joined_text(merged),
                                   "metadata": {**metadata, "parts": merged}})
    if task is not None:
        await record_calls(ctx, task["_id"], messageId, calls)
    return may_write(task, runId)


@internal_mutation(args={"messageId": v.id("chatMessages"), "runId": v.string(),
                         "finishReason": finish_reason, "usage": v.optional(token_usage),
                         **answer_args})
async def finishAnswer(ctx: MutationCtx, messageId: str, runId: str, finishReason: str,
                       parts: list[Doc], calls: list[Doc], usage: Doc | None = None) -> None:
    """The last batch and the answer's final state in one commit: content, usage, reason,
    isStreaming false; the task COMPLETED (FAILED on an error) if this run still owns it."""
    task, message = await streaming(ctx, messageId)
    merged = merge_parts(message["metadata"].get("parts", []), parts)
    metadata = {**message["metadata"], "parts": merged, "isStreaming": False,
                "finishReason": finishReason}
    if usage is not None:
        metadata["usage"] = usage
    await ctx.db.patch(messageId, {"content": joined_text(merged), "metadata": metadata,
                                   "finishReason": finishReason, **(usage or {})})
    if task is None:
        return
    await record_calls(ctx, task["_id"], messageId, calls)
    if may_write(task, runId):
        error = None
        if finishReason == "error":
            error = last_error(merged) or "the agent stopped with an error"
        await on_agent_finish(ctx, task, error)
    if task.get("agentRunId") == runId:
        await release(ctx, task["_id"])


@internal_mutation
async def failInit(ctx: MutationCtx, taskId: TaskId, runId: str, error: str) -> None:
    """Preparing the workspace failed: the step stays with `initializationError`, the task
    is FAILED with the same text."""
    task = await ctx.db.get(taskId)
    if task is None or not may_write(task, runId):
        return
    if task["initStatus"] in ("INACTIVE", "ACTIVE"):
        await set_status(ctx, task, "FAILED", error)
        await ctx.db.patch(taskId, {"initializationError": error})
    else:
        await fail_init(ctx, task, error)
    await release(ctx, taskId)


@internal_mutation
async def advanceInit(ctx: MutationCtx, taskId: TaskId, runId: str, mode: str,
                      workspacePath: str | None = None) -> str | None:
    """The next init step of the run's workspace; None when the run may no longer write."""
    task = await ctx.db.get(taskId)
    if task is None or not may_write(task, runId):
        return None
    if workspacePath is not None:
        await ctx.db.patch(taskId, {"workspacePath": workspacePath})
    return await advance_init(ctx, task, mode)


@internal_mutation(args={"taskId": v.id("tasks"), "toolCallId": v.string(),
                         "change": v.object({
                             "path": v.string(), "kind": file_change_kind,
                             "beforeHash": v.optional(v.string()),
                             "afterHash": v.optional(v.string()), "diff": v.string(),
                             "linesAdded": v.number(), "linesRemoved": v.number()})})
async def recordFileChange(ctx: MutationCtx, taskId: str, toolCallId: str, change: Doc) -> None:
    await ctx.db.insert("fileChanges", {**change, "taskId": taskId, "toolCallId": toolCallId,
                                        "createdAt": ctx.now()})


@internal_mutation(args={"taskId": v.id("tasks"), "toolCallId": v.string(),
                         "chunks": v.array(v.object({
                             "stream": v.union(v.literal("command"), v.literal("stdout"),
                                               v.literal("stderr"), v.literal("exit")),
                             "text": v.string()}))})
async def terminal(ctx: MutationCtx, taskId: str, toolCallId: str, chunks: list[Doc]) -> None:
    """A batch of a command's terminal lines, in order."""
    now = ctx.now()
    for chunk in chunks:
        await ctx.db.insert("terminalOutput", {**chunk, "taskId": taskId,
                                               "toolCallId": toolCallId, "createdAt": now})


@internal_mutation
async def writeTodos(ctx: MutationCtx, taskId: TaskId, merge: bool,
                     todos: list[TodoInput]) -> TodoCounts:
    """The `todo_write` tool's write (the run acts for the task's owner)."""
    return await write_todos(ctx, taskId, merge, todos)


async def run_task(ctx: QueryCtx, task_id: str) -> Doc:
    task = await ctx.db.get(task_id)
    if task is None:
        raise app_error("NotFound", f"task {task_id} does not exist", id=task_id)
    return task


@internal_mutation(args={"taskId": v.id("tasks"), "content": v.string(),
                         "category": memory_category})
async def addMemory(ctx: MutationCtx, taskId: str, content: str, category: str) -> str:
    return await insert_memory(ctx, await run_task(ctx, taskId), content, category)


@internal_query(args={"taskId": v.id("tasks"), "category": v.optional(memory_category)})
async def listMemories(ctx: QueryCtx, taskId: str, category: str | None = None) -> list[Doc]:
    task = await run_task(ctx, taskId)
    rows = await user_repo_memories(ctx, task["userId"], task["repoFullName"], category)
    return [{"id": r["_id"], "category": r["category"], "content": r["content"]} for r in rows]


@internal_mutation(args={"taskId": v.id("tasks"), "memoryId": v.string()})
async def removeMemory(ctx: MutationCtx, taskId: str, memoryId: str) -> bool:
    """Forget one of the task owner's memories; False when there is no such memory."""
    task = await run_task(ctx, taskId)
    memory_id = ctx.db.normalize_id("memories", memoryId)
    memory = None if memory_id is None else await ctx.db.get(memory_id)
    if memory is None or memory["userId"] != task["userId"]:
        return False
    await ctx.db.delete(memory["_id"])
    return True


async def task_rows(ctx: QueryCtx, table: str, task_id: str) -> list[Doc]:
    await require_task(ctx, task_id)
    rows: list[Any] = await (ctx.db.query(table)
                             .with_index("by_task", lambda q: q.eq("taskId", task_id))
                             .collect())
    return rows


@query
async def toolCalls(ctx: QueryCtx, taskId: TaskId) -> list[Doc]:
    """The task's tool calls, oldest first, with their status and result."""
    return await task_rows(ctx, "toolCalls", taskId)


@query
async def fileChanges(ctx: QueryCtx, taskId: TaskId) -> list[Doc]:
    """The files the task's agent created, modified or deleted, oldest first, with diffs."""
    return await task_rows(ctx, "fileChanges", taskId)


@query
async def terminalOutput(ctx: QueryCtx, taskId: TaskId) -> list[Doc]:
    """The task's terminal: each command, its output as it came, and its exit."""
    return await task_rows(ctx, "terminalOutput", taskId)


@mutation
async def clearTerminal(ctx: MutationCtx, taskId: TaskId) -> int:
    """Clear the task's terminal (the seed's `clear-terminal`): deletes up to 2,000 rows;
    how many it deleted (call again while that is 2,000)."""
    await require_task(ctx, taskId)
    rows = await (ctx.db.query("terminalOutput")
                  .with_index("by_task", lambda q: q.eq("taskId", taskId)).take(2_000))
    for row in rows:
        await ctx.db.delete(row["_id"])
    return len(rows)
