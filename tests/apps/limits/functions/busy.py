"""Functions with one long stretch of CPU: they move to a worker process, and must behave
there exactly as on the event loop (reads, writes, logs, ctx.now() and ctx.random())."""

import time

from reactor import mutation, query, v


def _busy(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


async def _find(ctx, name):
    return await (ctx.db.query("counters")
                  .with_index("by_name", lambda q: q.eq("name", name)).first())


@mutation(args={"name": v.string(), "busy": v.number()})
async def add(ctx, name, busy):
    """Computes for `busy` seconds, then increments the counter `name` (creating it)."""
    _busy(busy)
    print(f"adding to {name}")
    doc = await _find(ctx, name)
    if doc is None:
        await ctx.db.insert("counters", {"name": name, "value": 1})
        return 1
    await ctx.db.patch(doc["_id"], {"value": doc["value"] + 1})
    return doc["value"] + 1


@query(args={"name": v.string(), "busy": v.number()})
async def read(ctx, name, busy):
    """The counter after `busy` seconds of computing, with this execution's clock and
    random number."""
    _busy(busy)
    print(f"reading {name}")
    doc = await _find(ctx, name)
    return {"value": 0 if doc is None else doc["value"], "now": ctx.now(),
            "random": ctx.random()}


@query(args={})
async def creation_times(ctx):
    """Every counter's name, in creation order, with its creation time."""
    docs = await ctx.db.query("counters").collect()
    return [[doc["name"], doc["_creationTime"]] for doc in docs]
