"""Tasks: create with the active-task limit, read, edit, status transitions, init, cleanup."""

from __future__ import annotations

import re
from typing import Any, Final

from reactor import MISSING, MutationCtx, QueryCtx, internal_mutation, mutation, query, v

from ..schema import TaskId, init_status, task_status
from ._lib.agent_runs import maybe_start_run
from ._lib.authz import Doc, ensure_owner, ensure_self, require_task, require_user
from ._lib.bounds import (
    MAX_CONTENT_CHARS,
    MAX_REPO_CHARS,
    MAX_SHORT_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    bound_all,
)
from ._lib.cascade import delete_task, purge_task, remove_workspace_later
from ._lib.chat import insert_message
from ._lib.errors import app_error
from ._lib.fields import present
from ._lib.lifecycle import ACTIVE_STATUSES, next_init_status, set_status

# Tasks a user may have that are not COMPLETED, FAILED or ARCHIVED.
TASK_LIMIT: Final = 5
_REPO_FULL_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
init_mode = v.union(v.literal("remote"), v.literal("local"), v.literal("scratchpad"))


async def tasks_with_status(ctx: QueryCtx, user_id: str, status: str, limit: int) -> list[Doc]:
    return await (ctx.db.query("tasks")
                  .with_index("by_user_status",
                              lambda q: q.eq("userId", user_id).eq("status", status))
                  .take(limit))


async def enforce_task_limit(ctx: QueryCtx, user_id: str) -> None:
    """`TaskLimitReached` when the user already has TASK_LIMIT active tasks."""
    active = 0
    for status in ACTIVE_STATUSES:
        active += len(await tasks_with_status(ctx, user_id, status, TASK_LIMIT))
    if active >= TASK_LIMIT:
        raise app_error("TaskLimitReached",
                        f"you already have {TASK_LIMIT} active tasks; complete, archive or"
                        " delete one first", limit=TASK_LIMIT)


def check_text(value: str, field: str) -> str:
    if not value.strip():
        raise app_error("InvalidArgument", f"{field}: must not be empty", field=field)
    return value.strip()


@mutation(args={"title": v.string(), "repoFullName": v.string(), "repoUrl": v.string(),
                "baseBranch": v.string(), "baseCommitSha": v.optional(v.string()),
                "shadowBranch": v.optional(v.string()), "mainModel": v.optional(v.string()),
                "isScratchpad": v.optional(v.boolean()), "userId": v.optional(v.id("users")),
                "message": v.optional(v.string())},
          returns=v.object({"taskId": v.id("tasks")}))
async def create(ctx: MutationCtx, title: str, repoFullName: str, repoUrl: str, baseBranch: str,
                 baseCommitSha: str | None = None, shadowBranch: str | None = None,
                 mainModel: str | None = None, isScratchpad: bool | None = None,
                 userId: str | None = None, message: str | None = None) -> Doc:
    """A new task (INITIALIZING, initStatus INACTIVE), with its first user message if given."""
    bound_all(MAX_TITLE_CHARS, title=title)
    bound_all(MAX_REPO_CHARS, repoFullName=repoFullName)
    bound_all(MAX_URL_CHARS, repoUrl=repoUrl)
    bound_all(MAX_SHORT_CHARS, baseBranch=baseBranch, baseCommitSha=baseCommitSha,
              shadowBranch=shadowBranch, mainModel=mainModel)
    bound_all(MAX_CONTENT_CHARS, message=message)
    user = await require_user(ctx)
    ensure_self(user, userId, "tasks:create")
    if not _REPO_FULL_NAME.fullmatch(repoFullName):
        raise app_error("InvalidArgument",
                        f'repoFullName: expected "owner/repo", got {repoFullName!r}',
                        field="repoFullName")
    await enforce_task_limit(ctx, user["_id"])
    now = ctx.now()
    task_id = await ctx.db.insert("tasks", present({
        "title": check_text(title, "title"), "status": "INITIALIZING",
        "repoFullName": repoFullName, "repoUrl": repoUrl, "isScratchpad": bool(isScratchpad),
        "mainModel": mainModel, "initStatus": "INACTIVE", "workspaceCleanedUp": False,
        "hasBeenInitialized": False, "userId": user["_id"], "baseBranch": baseBranch,
        "baseCommitSha": baseCommitSha or "", "shadowBranch": shadowBranch or "",
        "createdAt": now, "updatedAt": now}))
    if not shadowBranch:
        await ctx.db.patch(task_id, {"shadowBranch": f"shadow/task-{task_id}"})
    if message is not None:
        created = await ctx.db.get(task_id)
        assert created is not None  # inserted just above, in this transaction
        await insert_message(ctx, created, message, "USER", mainModel)
        await maybe_start_run(ctx, created, mainModel)
    return {"taskId": task_id}


@query
async def get(ctx: QueryCtx, taskId: TaskId) -> Doc | None:
    """The caller's task, or null if it no longer exists."""
    user = await require_user(ctx)
    task = await ctx.db.get(taskId)
    if task is not None:
        ensure_owner(user, task, "task")
    return task


@query(args={"userId": v.optional(v.id("users")), "status": v.optional(task_status)})
async def listByUser(ctx: QueryCtx, userId: str | None = None,
                     status: str | None = None) -> list[Doc]:
    """The caller's tasks, newest first, optionally only those with `status`."""
    user = await require_user(ctx)
    ensure_self(user, userId, "tasks:listByUser")
    if status is None:
        rows = ctx.db.query("tasks").with_index("by_user", lambda q: q.eq("userId", user["_id"]))
    else:
        rows = ctx.db.query("tasks").with_index(
            "by_user_status", lambda q: q.eq("userId", user["_id"]).eq("status", status))
    return await rows.order("desc").collect()


@mutation(args={"taskId": v.id("tasks"), "title": v.optional(v.string()),
                "mainModel": v.optional(v.string()), "workspacePath": v.optional(v.string()),
                "baseCommitSha": v.optional(v.string()), "shadowBranch": v.optional(v.string()),
                "pullRequestNumber": v.optional(v.number()),
                "githubIssueId": v.optional(v.string()),
                "codebaseUnderstandingId": v.optional(v.id("codebaseUnderstanding"))})
async def update(ctx: MutationCtx, taskId: str, **changes: Any) -> None:
    """Change a task's editable fields (status has its own functions)."""
    await require_task(ctx, taskId)
    fields = present(changes)
    if "title" in fields:
        fields["title"] = check_text(fields["title"], "title")
    understanding = fields.get("codebaseUnderstandingId")
    if understanding is not None and await ctx.db.get(understanding) is None:
        raise app_error("NotFound", f"codebaseUnderstanding {understanding} does not exist",
                        id=understanding)
    await ctx.db.patch(taskId, {**fields, "updatedAt": ctx.now()})


@mutation(args={"taskId": v.id("tasks"), "status": task_status,
                "errorMessage": v.optional(v.string())})
async def setStatus(ctx: MutationCtx, taskId: str, status: str,
                    errorMessage: str | None = None) -> None:
    """Move the task along the transition table; errorMessage goes with FAILED only."""
    _, task = await require_task(ctx, taskId)
    await set_status(ctx, task, status, errorMessage)


@mutation
async def stop(ctx: MutationCtx, taskId: TaskId) -> None:
    """The user stopped the agent (cleanup follows in 15 minutes)."""
    _, task = await require_task(ctx, taskId)
    await set_status(ctx, task, "STOPPED")


@mutation
async def archive(ctx: MutationCtx, taskId: TaskId) -> None:
    """Archive the task: final, and no longer counted as active."""
    _, task = await require_task(ctx, taskId)
    await set_status(ctx, task, "ARCHIVED")


@mutation
async def remove(ctx: MutationCtx, taskId: TaskId) -> None:
    """Delete the task at once; its messages, todos, memories and sessions follow in batches."""
    _, task = await require_task(ctx, taskId)
    await delete_task(ctx, task)


@internal_mutation
async def purge(ctx: MutationCtx, taskId: TaskId) -> None:
    """One batch of a deleted task's rows; scheduled until none is left."""
    await purge_task(ctx, taskId)


@mutation(args={"taskId": v.id("tasks"), "mode": init_mode},
          returns=v.object({"initStatus": init_status}))
async def advanceInit(ctx: MutationCtx, taskId: str, mode: str) -> Doc:
    """Start the next workspace init step of `mode`; after the last one the task is ACTIVE.

    After a failed init (initializationError set) the step list starts over.
    """
    _, task = await require_task(ctx, taskId)
    return {"initStatus": await advance_init(ctx, task, mode)}


async def advance_init(ctx: MutationCtx, task: Doc, mode: str) -> str:
    """`advanceInit` without the caller check (the agent's run prepares the workspace)."""
    if (mode == "scratchpad") != task["isScratchpad"]:
        raise app_error("InvalidInitMode",
                        f"mode {mode} does not fit a task with isScratchpad"
                        f" {task['isScratchpad']}", mode=mode)
    current = "INACTIVE" if "initializationError" in task else task["initStatus"]
    following = next_init_status(mode, current)
    fields: Doc = {"initStatus": following, "initializationError": MISSING,
                   "updatedAt": ctx.now()}
    if current == "INACTIVE":
        fields["workspaceCleanedUp"] = False
    if following == "ACTIVE":
        fields["hasBeenInitialized"] = True
    await ctx.db.patch(task["_id"], fields)
    return following


@mutation
async def failInit(ctx: MutationCtx, taskId: TaskId, error: str) -> None:
    """The current init step failed: keep the step, record the error, the task FAILS."""
    _, task = await require_task(ctx, taskId)
    await fail_init(ctx, task, error)


async def fail_init(ctx: MutationCtx, task: Doc, error: str) -> None:
    """`failInit` without the caller check."""
    if task["initStatus"] in ("INACTIVE", "ACTIVE"):
        raise app_error("InitNotInProgress",
                        f"task {task['_id']} is not initializing"
                        f" (initStatus {task['initStatus']})", initStatus=task["initStatus"])
    await set_status(ctx, task, "FAILED", error)
    await ctx.db.patch(task["_id"], {"initializationError": error})


@internal_mutation
async def cleanup(ctx: MutationCtx, taskId: TaskId) -> None:
    """The scheduled workspace cleanup: end active sessions, initStatus back to INACTIVE,
    the agent's workspace folder deleted (agent:removeWorkspace)."""
    task = await ctx.db.get(taskId)
    if task is None:
        return
    now = ctx.now()
    sessions = await (ctx.db.query("taskSessions")
                      .with_index("by_task_active",
                                  lambda q: q.eq("taskId", taskId).eq("isActive", True))
                      .collect())
    for session in sessions:
        await ctx.db.patch(session["_id"], {"isActive": False, "endedAt": now})
    await ctx.db.patch(taskId, {"initStatus": "INACTIVE", "scheduledCleanupAt": MISSING,
                                "cleanupJobId": MISSING, "workspaceCleanedUp": True,
                                "updatedAt": now})
    await remove_workspace_later(ctx, task)
