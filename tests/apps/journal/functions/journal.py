"""An append-only journal: the durability and group-commit workloads."""

from reactor import mutation, query, v


@mutation(args={"seq": v.number(), "payload": v.string()})
async def append(ctx, seq, payload):
    """Insert entry `seq` and move the meta counter in the same transaction."""
    entry = await ctx.db.insert("entries", {"seq": seq, "payload": payload})
    meta = await ctx.db.query("meta").first()
    if meta is None:
        await ctx.db.insert("meta", {"last": seq, "count": 1})
    else:
        await ctx.db.patch(meta["_id"], {"last": seq, "count": meta["count"] + 1})
    return entry


@mutation(args={"seq": v.number(), "payload": v.string()})
async def write(ctx, seq, payload):
    """Insert only: concurrent writers never conflict."""
    return await ctx.db.insert("entries", {"seq": seq, "payload": payload})


@query(args={})
async def meta(ctx):
    return await ctx.db.query("meta").first()


@query(args={})
async def entries(ctx):
    return await ctx.db.query("entries").with_index("by_seq").collect()


@query(args={})
async def entries_by_creation(ctx):
    return await ctx.db.query("entries").collect()
