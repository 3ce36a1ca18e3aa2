"""Named counters: the values the sync tests subscribe to and change."""

import asyncio

from reactor import internal_mutation, internal_query, mutation, query, v


async def _find(ctx, name):
    return await (ctx.db.query("counters")
                  .with_index("by_name", lambda q: q.eq("name", name)).first())


@query(args={"name": v.string()})
async def get(ctx, name):
    doc = await _find(ctx, name)
    return 0 if doc is None else doc["value"]


@mutation(args={"name": v.string(), "by": v.optional(v.number())})
async def incr(ctx, name, by=None):
    doc = await _find(ctx, name)
    value = (0 if doc is None else doc["value"]) + (1 if by is None else by)
    if doc is None:
        await ctx.db.insert("counters", {"name": name, "value": value})
    else:
        await ctx.db.patch(doc["_id"], {"value": value})
    return value


@mutation(args={"name": v.string()})
async def touch(ctx, name):
    """Rewrites a counter with its own value: a commit that changes no query result."""
    doc = await _find(ctx, name)
    if doc is not None:
        await ctx.db.patch(doc["_id"], {"value": doc["value"]})


@mutation(args={"tag": v.string(), "delay": v.optional(v.number())})
async def apply_once(ctx, tag, delay=None):
    """Records `tag`; a second record of one tag means a mutation ran twice."""
    if delay:
        await asyncio.sleep(delay)
    await ctx.db.insert("applied", {"tag": tag})
    return tag


@query(args={"prefix": v.string()})
async def applied(ctx, prefix):
    rows = await ctx.db.query("applied").collect()
    return sorted(row["tag"] for row in rows if row["tag"].startswith(prefix))


@internal_query(args={"name": v.string()})
async def peek(ctx, name):
    doc = await _find(ctx, name)
    return None if doc is None else doc["value"]


@internal_mutation(args={"name": v.string()})
async def reset(ctx, name):
    doc = await _find(ctx, name)
    if doc is not None:
        await ctx.db.delete(doc["_id"])
    return "reset"


@query(args={"name": v.string(), "size": v.number()})
async def padded(ctx, name, size):
    """The counter with `size` characters of padding: large Transitions on demand."""
    doc = await _find(ctx, name)
    return {"value": 0 if doc is None else doc["value"], "pad": "x" * int(size)}
