"""Push latency, fan-out, memory and reads: one small document per key."""

from reactor import MutationCtx, QueryCtx, mutation, query, v


@query(args={"key": v.string()})
async def get(ctx: QueryCtx, key: str) -> float | None:
    row = await ctx.db.query("counters").with_index("by_key", lambda q: q.eq("key", key)).first()
    return None if row is None else row["value"]


@mutation(args={"key": v.string(), "value": v.number()})
async def put(ctx: MutationCtx, key: str, value: float) -> None:
    row = await ctx.db.query("counters").with_index("by_key", lambda q: q.eq("key", key)).first()
    if row is None:
        await ctx.db.insert("counters", {"key": key, "value": value})
    else:
        await ctx.db.patch(row["_id"], {"value": value})
