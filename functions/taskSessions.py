"""Workspace connections of a task (a pod or a local process); cleanup ends the active ones."""

from __future__ import annotations

from reactor import MutationCtx, QueryCtx, mutation, query, v

from ._lib.authz import Doc, require_task
from ._lib.errors import app_error
from ._lib.fields import present


@mutation(args={"taskId": v.id("tasks"), "podName": v.optional(v.string()),
                "podNamespace": v.optional(v.string()), "connectionId": v.optional(v.string())},
          returns=v.id("taskSessions"))
async def start(ctx: MutationCtx, taskId: str, podName: str | None = None,
                podNamespace: str | None = None, connectionId: str | None = None) -> str:
    """Record a workspace connection for the caller's task."""
    await require_task(ctx, taskId)
    return await ctx.db.insert("taskSessions", present({
        "taskId": taskId, "podName": podName, "podNamespace": podNamespace,
        "connectionId": connectionId, "isActive": True, "createdAt": ctx.now()}))


@mutation(args={"sessionId": v.id("taskSessions")})
async def end(ctx: MutationCtx, sessionId: str) -> None:
    """Mark a workspace connection as ended (ending it twice keeps the first endedAt)."""
    session = await ctx.db.get(sessionId)
    if session is None:
        raise app_error("NotFound", f"task session {sessionId} does not exist", id=sessionId)
    await require_task(ctx, session["taskId"])
    if session["isActive"]:
        await ctx.db.patch(sessionId, {"isActive": False, "endedAt": ctx.now()})


@query(args={"taskId": v.id("tasks")})
async def byTask(ctx: QueryCtx, taskId: str) -> list[Doc]:
    """The task's workspace connections, ended ones first, then active, oldest first."""
    await require_task(ctx, taskId)
    return await (ctx.db.query("taskSessions")
                  .with_index("by_task_active", lambda q: q.eq("taskId", taskId))
                  .collect())
