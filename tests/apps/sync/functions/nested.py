"""Queries and mutations calling queries and mutations (tests/test_convex_compat.py)."""

from reactor import AppError, mutation, query, v


@query(args={"name": v.string()})
async def value(ctx, name):
    doc = await (ctx.db.query("counters")
                 .with_index("by_name", lambda q: q.eq("name", name)).first())
    return None if doc is None else doc["value"]


@query(args={"name": v.string()})
async def value_via_query(ctx, name):
    """A live query whose reads are all made by the queries it calls (by object and by
    path)."""
    by_object = await ctx.run_query(value, {"name": name})
    assert await ctx.run_query("nested:value", {"name": name}) == by_object
    return by_object


@mutation(args={"name": v.string(), "fail": v.boolean()})
async def put(ctx, name, fail):
    await ctx.db.insert("counters", {"name": name, "value": 1})
    if fail:
        raise AppError({"code": "Inner", "name": name})
    return name


@mutation(args={"name": v.string()})
async def outer(ctx, name):
    """Calls a failing mutation, catches its error and goes on with another."""
    await ctx.db.insert("counters", {"name": f"{name}-outer", "value": 1})
    try:
        await ctx.run_mutation(put, {"name": f"{name}-failed", "fail": True})
    except AppError as error:
        caught = error.data
    await ctx.run_mutation("nested:put", {"name": f"{name}-kept", "fail": False})
    seen = await ctx.run_query(value, {"name": f"{name}-kept"})
    return {"caught": caught, "seen": seen}


@mutation(args={"name": v.string()})
async def outer_uncaught(ctx, name):
    await ctx.db.insert("counters", {"name": f"{name}-outer", "value": 1})
    await ctx.run_mutation(put, {"name": f"{name}-failed", "fail": True})


@mutation(args={"name": v.string()})
async def recurse(ctx, name):
    return await ctx.run_mutation(recurse, {"name": name})
