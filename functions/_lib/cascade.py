"""Deleting a task or a user together with every row that belongs to it."""

from __future__ import annotations

from reactor import MutationCtx, QueryCtx

from .authz import Doc
from .chat import delete_message
from .lifecycle import cancel_cleanup


async def rows_by(ctx: QueryCtx, table: str, index: str, field: str, value: str) -> list[Doc]:
    """Every row of `table` whose `index` starts with `field == value`."""
    return await ctx.db.query(table).with_index(index, lambda q: q.eq(field, value)).collect()


async def delete_task(ctx: MutationCtx, task: Doc) -> None:
    """A task, its messages (with their pull-request snapshots), todos, memories, sessions."""
    await cancel_cleanup(ctx, task)
    task_id = task["_id"]
    for message in await rows_by(ctx, "chatMessages", "by_task_sequence", "taskId", task_id):
        await delete_message(ctx, message)
    for table, index in (("todos", "by_task_sequence"), ("memories", "by_task"),
                         ("taskSessions", "by_task_active")):
        for row in await rows_by(ctx, table, index, "taskId", task_id):
            await ctx.db.delete(row["_id"])
    await ctx.db.delete(task_id)


async def delete_user(ctx: MutationCtx, user: Doc) -> None:
    """A user, their tasks (cascading), sessions, accounts, settings, memories, understandings."""
    user_id = user["_id"]
    for task in await rows_by(ctx, "tasks", "by_user", "userId", user_id):
        await delete_task(ctx, task)
    for table, index in (("sessions", "by_user"), ("accounts", "by_user"),
                         ("userSettings", "by_user"), ("memories", "by_user_repo"),
                         ("codebaseUnderstanding", "by_user")):
        for row in await rows_by(ctx, table, index, "userId", user_id):
            await ctx.db.delete(row["_id"])
    await ctx.db.delete(user_id)
