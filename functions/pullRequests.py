"""Pull-request snapshots: what a message's pull request looked like when the agent made it."""

from __future__ import annotations

from typing import Any

from reactor import MutationCtx, QueryCtx, mutation, query, v

from ._lib.authz import Doc, require_message


async def snapshot_of(ctx: QueryCtx, message_id: str) -> Doc | None:
    return await (ctx.db.query("pullRequestSnapshots")
                  .with_index("by_message", lambda q: q.eq("messageId", message_id))
                  .unique())


@mutation(args={"messageId": v.id("chatMessages"), "title": v.string(),
                "description": v.string(), "filesChanged": v.number(),
                "linesAdded": v.number(), "linesRemoved": v.number(), "commitSha": v.string()},
          returns=v.id("pullRequestSnapshots"))
async def record(ctx: MutationCtx, messageId: str, **snapshot: Any) -> str:
    """Store the message's snapshot: CREATED the first time, UPDATED after that."""
    _, task, _ = await require_message(ctx, messageId)
    existing = await snapshot_of(ctx, messageId)
    if existing is None:
        return await ctx.db.insert("pullRequestSnapshots", {
            **snapshot, "messageId": messageId, "taskId": task["_id"], "status": "CREATED",
            "createdAt": ctx.now()})
    await ctx.db.patch(existing["_id"], {**snapshot, "status": "UPDATED"})
    snapshot_id: str = existing["_id"]
    return snapshot_id


@query(args={"messageId": v.id("chatMessages")})
async def forMessage(ctx: QueryCtx, messageId: str) -> Doc | None:
    """The message's pull-request snapshot, or null."""
    await require_message(ctx, messageId)
    return await snapshot_of(ctx, messageId)
