"""The agent's todo list per task: `write` is the `todo_write` tool, `byTask` the live list.

Declared in the signature style: the annotations are the argument and result
validators (docs/guide/functions.md, "Validators from annotations").
"""

from __future__ import annotations

from typing import TypedDict

from reactor import MutationCtx, QueryCtx, mutation, query

from ..schema import TODO_STATUSES, TaskId
from ._lib.authz import Doc, require_task
from ._lib.bounds import MAX_NOTE_CHARS, MAX_SHORT_CHARS, bound_all, bound_items
from ._lib.errors import app_error


class TodoInput(TypedDict):
    """One todo as the agent writes it (its status in any case)."""

    id: str
    content: str
    status: str


class TodoCounts(TypedDict):
    total: int
    completed: int


def normalized_status(raw: str, position: int) -> str:
    """The agent writes statuses in any case ("in_progress"); stored upper-case."""
    status = raw.strip().upper()
    if status not in TODO_STATUSES:
        raise app_error("InvalidTodoStatus",
                        f"todos[{position}].status: expected one of"
                        f" {', '.join(TODO_STATUSES)} (any case), got {raw!r}",
                        index=position, status=raw, expected=list(TODO_STATUSES))
    return status


def check_unique_ids(todos: list[TodoInput]) -> None:
    seen: set[str] = set()
    for position, todo in enumerate(todos):
        if todo["id"] in seen:
            raise app_error("InvalidArgument",
                            f"todos[{position}].id: {todo['id']!r} appears twice in the list",
                            field=f"todos[{position}].id")
        seen.add(todo["id"])


async def task_todos(ctx: QueryCtx, task_id: str) -> list[Doc]:
    return await (ctx.db.query("todos")
                  .with_index("by_task_sequence", lambda q: q.eq("taskId", task_id))
                  .collect())


async def todo_by_id(ctx: QueryCtx, task_id: str, todo_id: str) -> Doc | None:
    return await (ctx.db.query("todos")
                  .with_index("by_task_todo_id",
                              lambda q: q.eq("taskId", task_id).eq("todoId", todo_id))
                  .unique())


@mutation
async def write(ctx: MutationCtx, taskId: TaskId, merge: bool,
                todos: list[TodoInput]) -> TodoCounts:
    """Replace the list (merge=false) or upsert by todo id; sequence = position in `todos`.

    Returns how many todos the task now has and how many of them are COMPLETED.
    """
    bound_items(list(todos), "todos")
    for position, todo in enumerate(todos):
        bound_all(MAX_SHORT_CHARS, **{f"todos[{position}].id": todo["id"],
                                      f"todos[{position}].status": todo["status"]})
        bound_all(MAX_NOTE_CHARS, **{f"todos[{position}].content": todo["content"]})
    await require_task(ctx, taskId)
    return await write_todos(ctx, taskId, merge, todos)


async def write_todos(ctx: MutationCtx, taskId: str, merge: bool,
                      todos: list[TodoInput]) -> TodoCounts:
    """`write` without the caller check: the agent's `todo_write` tool runs it for its task."""
    statuses = [normalized_status(todo["status"], n) for n, todo in enumerate(todos)]
    check_unique_ids(todos)
    if not merge:
        for old in await task_todos(ctx, taskId):
            await ctx.db.delete(old["_id"])
    now = ctx.now()
    for position, (todo, status) in enumerate(zip(todos, statuses, strict=True)):
        fields = {"content": todo["content"], "status": status, "sequence": position,
                  "updatedAt": now}
        row = await todo_by_id(ctx, taskId, todo["id"]) if merge else None
        if row is None:
            await ctx.db.insert("todos", {**fields, "taskId": taskId, "todoId": todo["id"],
                                          "createdAt": now})
        else:
            await ctx.db.patch(row["_id"], fields)
    completed = await (ctx.db.query("todos")
                       .with_index("by_task_status",
                                   lambda q: q.eq("taskId", taskId).eq("status", "COMPLETED"))
                       .collect())
    return {"total": len(await task_todos(ctx, taskId)), "completed": len(completed)}


@query(name="byTask")
async def by_task(ctx: QueryCtx, taskId: TaskId) -> list[Doc]:
    """The task's todos in sequence order."""
    await require_task(ctx, taskId)
    return await task_todos(ctx, taskId)
