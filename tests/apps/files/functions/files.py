"""Every ctx.storage call, for the file storage tests."""

import datetime

from reactor import AppError, action, mutation, query, v


@query(args={"id": v.string()})
async def url(ctx, id):
    return await ctx.storage.get_url(id)


@query(args={"id": v.string(), "seconds": v.number()})
async def signed_url(ctx, id, seconds):
    return await ctx.storage.get_url(id, expires_in=datetime.timedelta(seconds=seconds))


@query(args={"id": v.string()})
async def metadata(ctx, id):
    return await ctx.db.system.get(id)


@query
async def all(ctx):
    return await ctx.db.system.query("_storage").collect()


@query
async def count(ctx):
    return len(await ctx.db.system.query("_storage").collect())


@mutation(args={"id": v.string()})
async def delete(ctx, id):
    await ctx.storage.delete(id)


@mutation(args={"id": v.string()})
async def delete_then_fail(ctx, id):
    await ctx.storage.delete(id)
    raise AppError("rolled back")


@query
async def upload_url_in_query(ctx):
    return await ctx.storage.generate_upload_url()


@action
async def upload_url_from_action(ctx):
    return await ctx.storage.generate_upload_url()


@action(args={"text": v.string(), "contentType": v.optional(v.string())})
async def store_text(ctx, text, contentType=None):
    return await ctx.storage.store(text.encode(), content_type=contentType)


@action(args={"parts": v.number(), "size": v.number()})
async def store_stream(ctx, parts, size):
    async def chunks():
        for index in range(int(parts)):
            yield bytes([index % 256]) * int(size)

    return await ctx.storage.store(chunks(), content_type="application/octet-stream")


@action(args={"id": v.string()})
async def read_text(ctx, id):
    data = await ctx.storage.get(id)
    return None if data is None else data.decode()


@action(args={"id": v.string()})
async def stream_sizes(ctx, id):
    stream = await ctx.storage.stream(id)
    if stream is None:
        return None
    return [len(chunk) async for chunk in stream]


@action(args={"id": v.string()})
async def delete_from_action(ctx, id):
    await ctx.storage.delete(id)


@action(args={"id": v.string(), "seconds": v.optional(v.number())})
async def url_from_action(ctx, id, seconds=None):
    return await ctx.storage.get_url(id, expires_in=seconds)


@action(args={"id": v.string()})
async def metadata_from_action(ctx, id):
    return await ctx.storage.get_metadata(id)


@query(args={"table": v.string()})
async def system_rows(ctx, table):
    return await ctx.db.system.query(table).collect()


def _spin(seconds):
    """Hold the event loop: past the slice, the call moves to a worker process."""
    import time

    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@query(args={"id": v.string(), "busy": v.number()})
async def busy_url(ctx, id, busy):
    _spin(busy)
    return await ctx.storage.get_url(id)


@mutation(args={"busy": v.number()})
async def busy_upload_url(ctx, busy):
    _spin(busy)
    return await ctx.storage.generate_upload_url()


@mutation(args={"id": v.string(), "busy": v.number()})
async def busy_delete(ctx, id, busy):
    _spin(busy)
    await ctx.storage.delete(id)
