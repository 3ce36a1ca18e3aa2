"""Named counters with optional padding: the live values of the fuzzing and slow-client tests."""

from reactor import mutation, query, v


async def _find(ctx, name):
    return await (ctx.db.query("counters")
                  .with_index("by_name", lambda q: q.eq("name", name)).first())


@query(args={"name": v.string()})
async def get(ctx, name):
    doc = await _find(ctx, name)
    return 0 if doc is None else doc["value"]


@query(args={"name": v.string(), "pad": v.number()})
async def padded(ctx, name, pad):
    """The counter and `pad` characters: each update is a large Transition."""
    doc = await _find(ctx, name)
    return {"value": 0 if doc is None else doc["value"], "pad": "x" * int(pad)}


@mutation(args={"name": v.string()})
async def incr(ctx, name):
    doc = await _find(ctx, name)
    if doc is None:
        await ctx.db.insert("counters", {"name": name, "value": 1})
        return 1
    await ctx.db.patch(doc["_id"], {"value": doc["value"] + 1})
    return doc["value"] + 1
