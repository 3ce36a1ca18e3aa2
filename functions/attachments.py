"""Files attached to a task's chat, uploaded from the browser with an upload URL.

The page asks `generateUploadUrl`, POSTs the file to it, then calls `add` with
the storage id it got back; `byTask` lists the task's attachments with URLs
(live: an attachment removed in one window disappears from the others).
"""

from __future__ import annotations

from reactor import MutationCtx, QueryCtx, mutation, query, v

from ._lib.authz import Doc, ensure_owner, require_task, require_user
from ._lib.errors import app_error

MAX_NAME = 200


@mutation(args={})
async def generateUploadUrl(ctx: MutationCtx) -> str:
    """A single-use URL to POST one file to (signed-in users only)."""
    await require_user(ctx)
    return await ctx.storage.generate_upload_url()


@mutation(args={"taskId": v.id("tasks"), "storageId": v.id("_storage"), "name": v.string()})
async def add(ctx: MutationCtx, taskId: str, storageId: str, name: str) -> str:
    """Attach an uploaded file to the caller's task."""
    user, task = await require_task(ctx, taskId)
    if await ctx.storage.get_metadata(storageId) is None:
        raise app_error("NotFound", f"file {storageId} does not exist", id=storageId)
    clean = name.strip()[:MAX_NAME] or "file"
    return await ctx.db.insert("attachments", {"taskId": task["_id"], "userId": user["_id"],
                                               "storageId": storageId, "name": clean,
                                               "createdAt": ctx.now()})


@query(args={"taskId": v.id("tasks")})
async def byTask(ctx: QueryCtx, taskId: str) -> list[Doc]:
    """The task's attachments, oldest first, each with `url`, `size` and `contentType`."""
    await require_task(ctx, taskId)
    rows = await (ctx.db.query("attachments")
                  .with_index("by_task", lambda q: q.eq("taskId", taskId)).collect())
    listed = []
    for row in rows:
        meta = await ctx.storage.get_metadata(row["storageId"])
        listed.append({**row, "url": await ctx.storage.get_url(row["storageId"]),
                       "size": None if meta is None else meta["size"],
                       "contentType": None if meta is None else meta.get("contentType")})
    return listed


@mutation(args={"attachmentId": v.id("attachments")})
async def remove(ctx: MutationCtx, attachmentId: str) -> None:
    """Delete an attachment and its file."""
    user = await require_user(ctx)
    row = await ctx.db.get(attachmentId)
    if row is None:
        raise app_error("NotFound", f"attachment {attachmentId} does not exist", id=attachmentId)
    ensure_owner(user, row, "attachment")
    await ctx.db.delete(attachmentId)
    await ctx.storage.delete(row["storageId"])
