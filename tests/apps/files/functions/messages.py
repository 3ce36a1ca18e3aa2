"""The file flow of Convex's docs: upload URL, POST, save the id, URL in a query."""

from reactor import mutation, query, v


@mutation
async def generateUploadUrl(ctx):
    return await ctx.storage.generate_upload_url()


@mutation(args={"storageId": v.id("_storage"), "author": v.string()})
async def sendImage(ctx, storageId, author):
    return await ctx.db.insert("messages", {"body": "", "author": author, "format": "image",
                                            "file": storageId})


@mutation(args={"body": v.string(), "author": v.string()})
async def send(ctx, body, author):
    return await ctx.db.insert("messages", {"body": body, "author": author, "format": "text"})


@query
async def list(ctx):
    messages = await ctx.db.query("messages").collect()
    for message in messages:
        if message["format"] == "image":
            message["url"] = await ctx.storage.get_url(message["file"])
    return messages


@mutation(args={"id": v.id("messages")})
async def remove(ctx, id):
    message = await ctx.db.get(id)
    await ctx.db.delete(id)
    if message is not None and message.get("file"):
        await ctx.storage.delete(message["file"])
