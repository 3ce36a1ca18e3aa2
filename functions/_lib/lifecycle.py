"""Task status transitions, workspace init steps, and the cleanup scheduled when a run ends."""

from __future__ import annotations

from typing import Final

from reactor import MISSING, MutationCtx

from .authz import Doc
from .errors import app_error

# From each status, the statuses a task may move to. ARCHIVED is final.
ALLOWED_TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "INITIALIZING": frozenset({"RUNNING", "STOPPED", "FAILED", "ARCHIVED"}),
    "RUNNING": frozenset({"COMPLETED", "STOPPED", "FAILED", "ARCHIVED"}),
    "COMPLETED": frozenset({"RUNNING", "ARCHIVED"}),
    "STOPPED": frozenset({"RUNNING", "ARCHIVED"}),
    "FAILED": frozenset({"RUNNING", "ARCHIVED"}),
    "ARCHIVED": frozenset(),
}
# A run ends in one of these; each schedules the workspace cleanup.
RUN_END_STATUSES: Final = frozenset({"COMPLETED", "FAILED", "STOPPED"})
# Tasks in these statuses count toward a user's active-task limit.
ACTIVE_STATUSES: Final = ("INITIALIZING", "RUNNING", "STOPPED")
CLEANUP_DELAY_SECONDS: Final = 15 * 60
CLEANUP_FUNCTION: Final = "tasks:cleanup"

INIT_STEPS: Final[dict[str, tuple[str, ...]]] = {
    "remote": ("CREATE_VM", "WAIT_VM_READY", "VERIFY_VM_WORKSPACE", "START_BACKGROUND_SERVICES",
               "INSTALL_DEPENDENCIES", "COMPLETE_SHADOW_WIKI"),
    "local": ("PREPARE_WORKSPACE", "START_BACKGROUND_SERVICES", "INSTALL_DEPENDENCIES",
              "COMPLETE_SHADOW_WIKI"),
    "scratchpad": ("PREPARE_WORKSPACE",),
}


def check_transition(current: str, target: str) -> None:
    """`InvalidTransition` naming both ends unless the table allows `current -> target`."""
    allowed = ALLOWED_TRANSITIONS[current]
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (it is final)"
        raise app_error("InvalidTransition",
                        f"a task cannot go from {current} to {target}; from {current} it may"
                        f" go to {options}",
                        **{"from": current, "to": target})


async def set_status(ctx: MutationCtx, task: Doc, status: str,
                     error_message: str | None = None) -> None:
    """Move a task to `status`: errorMessage only with FAILED, cleanup follows a run's end."""
    check_transition(task["status"], status)
    if status == "FAILED" and error_message is None:
        raise app_error("InvalidArgument", "status FAILED needs an errorMessage",
                        field="errorMessage")
    if status != "FAILED" and error_message is not None:
        raise app_error("InvalidArgument",
                        f"errorMessage is only for status FAILED, not {status}",
                        field="errorMessage")
    fields: Doc = {"status": status, "updatedAt": ctx.now(),
                   "errorMessage": MISSING if error_message is None else error_message}
    if status in RUN_END_STATUSES:
        fields |= await schedule_cleanup(ctx, task)
    elif status == "RUNNING":
        fields |= await cancel_cleanup(ctx, task)
    await ctx.db.patch(task["_id"], fields)


async def schedule_cleanup(ctx: MutationCtx, task: Doc) -> Doc:
    """Schedule `tasks:cleanup` in 15 minutes (replacing a pending one); the fields to store."""
    await cancel_cleanup(ctx, task)
    job_id = await ctx.scheduler.run_after(CLEANUP_DELAY_SECONDS, CLEANUP_FUNCTION,
                                           {"taskId": task["_id"]})
    return {"cleanupJobId": job_id,
            "scheduledCleanupAt": ctx.now() + CLEANUP_DELAY_SECONDS * 1000}


async def cancel_cleanup(ctx: MutationCtx, task: Doc) -> Doc:
    """Cancel the task's pending cleanup, if any; the fields that clear it."""
    job_id = task.get("cleanupJobId")
    if job_id is None:
        return {}
    if await ctx.db.system.get(job_id) is not None:
        await ctx.scheduler.cancel(job_id)
    return {"cleanupJobId": MISSING, "scheduledCleanupAt": MISSING}


async def on_user_message(ctx: MutationCtx, task: Doc) -> None:
    """A user message sets the agent to work again; during init it simply waits its turn."""
    if task["status"] not in ("INITIALIZING", "RUNNING"):
        await set_status(ctx, task, "RUNNING")


async def on_agent_start(ctx: MutationCtx, task: Doc) -> None:
    """The agent started answering: the task is running."""
    if task["status"] != "RUNNING":
        await set_status(ctx, task, "RUNNING")


async def on_agent_finish(ctx: MutationCtx, task: Doc, error: str | None) -> None:
    """The answer is complete: COMPLETED, or FAILED when it ended in an error.

    A task that is no longer RUNNING (the user stopped it meanwhile) keeps its status.
    """
    if task["status"] != "RUNNING":
        return
    if error is None:
        await set_status(ctx, task, "COMPLETED")
    else:
        await set_status(ctx, task, "FAILED", error)


def next_init_status(mode: str, current: str) -> str:
    """The step after `current` in `mode`'s step list; ACTIVE after the last one."""
    steps = INIT_STEPS[mode]
    if current == "INACTIVE":
        return steps[0]
    if current in steps:
        position = steps.index(current)
        return steps[position + 1] if position + 1 < len(steps) else "ACTIVE"
    raise app_error("InvalidTransition",
                    f"initStatus {current} has no next step in the {mode} list"
                    f" (INACTIVE -> {' -> '.join(steps)} -> ACTIVE)",
                    **{"from": current, "mode": mode})
