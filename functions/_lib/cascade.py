"""Deleting a task or a user together with every row that belongs to it, in bounded batches.

A mutation may write at most 16,000 documents in about a second of user time,
and a user can own far more (a long chat is thousands of messages). So the task
or user row goes first, in the caller's mutation, which is what every reader
checks: from that commit on the task or the account is gone for everyone. The
rows hanging off it are then deleted `BATCH` at a time, the first batch in the
same mutation and each further one in a mutation scheduled by the one before
(`tasks:purge`, `auth:purgeUser`), until none is left. Until then those rows are
unreachable: every function reaches them through their task or user.
"""

from __future__ import annotations

from typing import Final

from reactor import MutationCtx
from reactor.auth.password import CREDENTIALS, SESSIONS

from .authz import Doc
from .lifecycle import cancel_cleanup

# Rows deleted per mutation: well inside the write and time limits of one.
BATCH: Final = 200
PURGE_TASK: Final = "tasks:purge"
PURGE_USER: Final = "auth:purgeUser"
REMOVE_WORKSPACE: Final = "agent:removeWorkspace"
TASK_ROWS: Final = (("pullRequestSnapshots", "by_task"), ("chatMessages", "by_task_sequence"),
                    ("todos", "by_task_sequence"), ("memories", "by_task"),
                    ("taskSessions", "by_task_active"), ("toolCalls", "by_task"),
                    ("fileChanges", "by_task"), ("terminalOutput", "by_task"))
# A scratchpad's code index (namespace `task:<id>`); a repository's is shared by its tasks.
TASK_INDEX_ROWS: Final = (("codeChunks", "by_repo"), ("codeFiles", "by_repo_path"),
                          ("repositoryIndex", "by_repo"))
USER_ROWS: Final = (("accounts", "by_user"), (CREDENTIALS, "by_user"), (SESSIONS, "by_user"),
                    ("userSettings", "by_user"), ("sessions", "by_user"),
                    ("codebaseUnderstanding", "by_user"), ("memories", "by_user_repo"))


class Budget:
    """How many more rows this mutation may delete."""

    def __init__(self, rows: int = BATCH) -> None:
        self.left = rows


async def delete_by(ctx: MutationCtx, table: str, index: str, field: str, value: str,
                    budget: Budget) -> bool:
    """Delete rows of `table` whose `index` starts with `field == value`, within the
    budget; whether none is left."""
    if budget.left <= 0:
        return False
    wanted = budget.left
    rows = await (ctx.db.query(table).with_index(index, lambda q: q.eq(field, value))
                  .take(wanted))
    for row in rows:
        await ctx.db.delete(row["_id"])
    budget.left -= len(rows)
    return len(rows) < wanted


async def purge_task_rows(ctx: MutationCtx, task_id: str, budget: Budget) -> bool:
    """Delete a task's pull-request snapshots, messages, todos, memories, sessions, agent
    records (tool calls, file changes, terminal output), own code index and attachments
    (with their files) within the budget; whether none is left. Snapshots go first, by
    their own index, so that a message is deleted without looking for its snapshot."""
    for table, index in TASK_ROWS:
        if not await delete_by(ctx, table, index, "taskId", task_id, budget):
            return False
    for table, index in TASK_INDEX_ROWS:
        if not await delete_by(ctx, table, index, "repoFullName", f"task:{task_id}", budget):
            return False
    return await delete_attachments(ctx, task_id, budget)


async def delete_attachments(ctx: MutationCtx, task_id: str, budget: Budget) -> bool:
    """Delete a task's attachments and their files within the budget; whether none is left."""
    wanted = budget.left // 2  # each is two deletes: the row and its `_storage` file
    if wanted <= 0:
        return False
    rows = await (ctx.db.query("attachments")
                  .with_index("by_task", lambda q: q.eq("taskId", task_id)).take(wanted))
    for row in rows:
        await ctx.db.delete(row["_id"])
        if await ctx.storage.get_metadata(row["storageId"]) is not None:
            await ctx.storage.delete(row["storageId"])
    budget.left -= 2 * len(rows)
    return len(rows) < wanted


async def delete_task(ctx: MutationCtx, task: Doc) -> None:
    """The task at once (with its pending cleanup); what it owns, batch by batch."""
    await cancel_cleanup(ctx, task)
    await ctx.db.delete(task["_id"])
    await remove_workspace_later(ctx, task)
    await purge_task(ctx, task["_id"])


async def remove_workspace_later(ctx: MutationCtx, task: Doc) -> None:
    """Schedule the deletion of the task's workspace folder, if the agent made one."""
    if "workspacePath" in task:
        await ctx.scheduler.run_after(0, REMOVE_WORKSPACE, {"taskId": task["_id"]})


async def purge_task(ctx: MutationCtx, task_id: str) -> None:
    """One batch of a deleted task's rows; schedules the next batch if some are left."""
    if not await purge_task_rows(ctx, task_id, Budget()):
        await ctx.scheduler.run_after(0, PURGE_TASK, {"taskId": task_id})


async def purge_user_rows(ctx: MutationCtx, user_id: str, budget: Budget) -> bool:
    """Delete what a (deleted) user owns within the budget; whether none is left.

    Their tasks go one at a time, each after its own rows, so that an unfinished
    task is found again by the next batch.
    """
    for table, index in USER_ROWS:
        if not await delete_by(ctx, table, index, "userId", user_id, budget):
            return False
    while budget.left > 0:
        task = await (ctx.db.query("tasks").with_index("by_user", lambda q: q.eq("userId",
                                                                                  user_id))
                      .first())
        if task is None:
            return True
        cleared = await cancel_cleanup(ctx, task)
        if cleared:
            await ctx.db.patch(task["_id"], cleared)
        if not await purge_task_rows(ctx, task["_id"], budget):
            return False
        await ctx.db.delete(task["_id"])
        await remove_workspace_later(ctx, task)
        budget.left -= 1
    return False


async def delete_user(ctx: MutationCtx, user: Doc) -> None:
    """The user at once: signed out everywhere, their sessions and sign-in refused. Then
    their tasks (cascading), sessions, accounts, settings, memories, understandings."""
    await ctx.db.delete(user["_id"])
    await purge_user(ctx, user["_id"])


async def purge_user(ctx: MutationCtx, user_id: str) -> None:
    """One batch of a deleted user's rows; schedules the next batch if some are left."""
    if not await purge_user_rows(ctx, user_id, Budget()):
        await ctx.scheduler.run_after(0, PURGE_USER, {"userId": user_id})
