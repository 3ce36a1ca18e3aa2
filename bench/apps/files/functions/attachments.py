"""The official upload flow: an upload URL, then the id saved by a mutation."""

from reactor import MutationCtx, mutation, v


@mutation
async def generateUploadUrl(ctx: MutationCtx) -> str:
    return await ctx.storage.generate_upload_url()


@mutation(args={"storageId": v.id("_storage"), "owner": v.string()})
async def save(ctx: MutationCtx, storageId: str, owner: str) -> str:
    return await ctx.db.insert("attachments", {"file": storageId, "owner": owner})


@mutation(args={"owner": v.string()})
async def insert(ctx: MutationCtx, owner: str) -> str:
    """The baseline: one small insert, the commit each upload's save also makes."""
    return await ctx.db.insert("attachments_baseline", {"owner": owner})
