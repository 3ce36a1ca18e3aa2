"""When the agent runs: a user message schedules a run if a provider serves its model.

A run is the `agent:run` action, scheduled by the mutation that stored the user
message (atomically with it). The task's `agentRunId` names the run allowed to
write: a newer user message replaces it, `tasks:stop` moves the task out of
RUNNING, and an older run that sees either stops at its next write.

Actions run at most once: a server killed mid-run does not resume it. So a run
holds a lease (`agentLeaseUntil`) that it renews while alive, and each renewal
schedules `agent:watchdog` (a mutation: it runs exactly once, after a restart
too) for just after the lease's end. A watchdog that finds the lease run out
and the run still in charge seals its message and fails the task as
interrupted, so no message stays "streaming" after a crash. At startup
`agent:recoverRuns` does the same at once for every run the task still names
(a run that ends clears `agentRunId`): no run of a previous process is alive.
"""

from __future__ import annotations

from typing import Final

from reactor import MutationCtx, QueryCtx
from reactor.agent import ProviderError, split_model

from .authz import Doc
from .chat import DEFAULT_LLM_MODEL

RUN_FUNCTION: Final = "agent:run"
WATCHDOG_FUNCTION: Final = "agent:watchdog"
DEFAULT_LEASE_S: Final = 30.0
WATCHDOG_GRACE_MS: Final = 1000.0
# Tasks agent:recoverRuns interrupts per transaction at startup.
RECOVERY_BATCH: Final = 100
INTERRUPTED: Final = "interrupted: the server stopped before the agent's run finished"
# A run may write while its task is in one of these (INITIALIZING until its first chunk).
WRITABLE_STATUSES: Final = frozenset({"INITIALIZING", "RUNNING"})


async def provider_configured(ctx: QueryCtx, model: str) -> bool:
    """Whether the deployment has a key or base URL for the provider `model` picks."""
    try:
        kind, _ = split_model(model)
    except ProviderError:
        return False
    prefix = "ANTHROPIC" if kind == "anthropic" else "OPENAI"
    return bool(await ctx.env.get(f"{prefix}_API_KEY")
                or await ctx.env.get(f"{prefix}_BASE_URL"))


async def maybe_start_run(ctx: MutationCtx, task: Doc, llm_model: str | None) -> str | None:
    """Schedule the agent for the task's newest user message; the run's id, or None when
    no model is named or no provider is configured for it (the app then only stores)."""
    model = llm_model or task.get("mainModel")
    if not model or model == DEFAULT_LLM_MODEL or not await provider_configured(ctx, model):
        return None
    run_id = f"run-{int(ctx.now())}-{int(ctx.random() * 1e12):012d}"
    await ctx.scheduler.run_after(0, RUN_FUNCTION,
                                  {"taskId": task["_id"], "runId": run_id, "model": model})
    await ctx.db.patch(task["_id"], {"agentRunId": run_id,
                                     "agentLeaseUntil": await renew_lease(ctx, task, run_id)})
    return run_id


async def lease_ms(ctx: QueryCtx) -> float:
    """How long a run counts as alive without renewing (AGENT_LEASE_S, default 30 s)."""
    configured = await ctx.env.get("AGENT_LEASE_S")
    try:
        seconds = float(configured) if configured else DEFAULT_LEASE_S
    except ValueError:
        seconds = DEFAULT_LEASE_S
    return max(seconds, 0.5) * 1000


async def renew_lease(ctx: MutationCtx, task: Doc, run_id: str) -> float:
    """A new lease end for the run, with the watchdog scheduled just after it."""
    until = ctx.now() + await lease_ms(ctx)
    await ctx.scheduler.run_at(until + WATCHDOG_GRACE_MS, WATCHDOG_FUNCTION,
                               {"taskId": task["_id"], "runId": run_id})
    return until


def may_write(task: Doc | None, run_id: str) -> bool:
    """Whether run `run_id` may still write to the task: not deleted, not stopped, not
    replaced by a newer run."""
    return (task is not None and task.get("agentRunId") == run_id
            and task["status"] in WRITABLE_STATUSES)
