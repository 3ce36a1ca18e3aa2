from reactor import mutation, query


async def _total(ctx, key: str):
    return await ctx.db.query("totals").with_index("by_key", lambda q: q.eq("key", key)).unique()


@query
async def get(ctx, key: str) -> float:
    total = await _total(ctx, key)
    return 0 if total is None else total["count"]


@mutation
async def add(ctx, key: str, by: float = 1) -> float:
    total = await _total(ctx, key)
    if total is None:
        await ctx.db.insert("totals", {"key": key, "count": by})
        return by
    await ctx.db.patch(total["_id"], {"count": total["count"] + by})
    return total["count"] + by


@mutation
async def add_later(ctx, key: str, seconds: float) -> str:
    # The component's own function, by the path it has inside the component.
    return await ctx.scheduler.run_after(seconds, "counts:add", {"key": key})
