"""Functions whose failures must look as they do in Convex (tests/test_convex_compat.py)."""

import asyncio
from typing import Any

from reactor import AppError, Int64, action, internal_action, mutation, query, v

# In-process tests set hooks["interfere"] to commit a conflicting write mid-mutation.
hooks: dict[str, Any] = {}


@query(args={"name": v.string(), "count": v.number()})
async def typed(ctx, name, count):
    return name


@query(args={}, returns=v.object({"n": v.string()}))
async def bad_returns(ctx):
    return {"n": 5}


@mutation(args={"kind": v.string()})
async def app_error(ctx, kind):
    """Data of each kind a client must get back exactly: insertion order, int64, text."""
    if kind == "text":
        raise AppError("plain words")
    raise AppError({"zeta": 1, "alpha": [1.5, Int64(123), None], "nested": {"b": True, "a": "x"}})


@action(args={"kind": v.string()})
async def app_error_through_action(ctx, kind):
    """Calls the failing mutation and lets its error pass up unchanged."""
    return await ctx.run_mutation(app_error, {"kind": kind})


@mutation(args={})
async def crash(ctx):
    raise RuntimeError("kaboom")


@query(args={"id": v.string()})
async def system_get(ctx, id):
    return await ctx.db.system.get(id)


@mutation(args={"name": v.string()})
async def new_counter(ctx, name):
    return await ctx.db.insert("counters", {"name": name, "value": 0})


@mutation(args={"name": v.string()})
async def contended(ctx, name):
    """Reads a counter, lets a test commit a write to it, then writes: always conflicts."""
    doc = await (ctx.db.query("counters")
                 .with_index("by_name", lambda q: q.eq("name", name)).first())
    await hooks["interfere"](name)
    await ctx.db.patch(doc["_id"], {"value": doc["value"] + 1})


@query(args={})
async def urls(ctx):
    """The deployment's own URLs, there without any setup."""
    return {"cloud": await ctx.env.get("CONVEX_CLOUD_URL"),
            "site": await ctx.env.get("CONVEX_SITE_URL")}


@action(args={})
async def urls_in_action(ctx):
    return {"cloud": await ctx.env.get("CONVEX_CLOUD_URL"),
            "site": await ctx.env.get("CONVEX_SITE_URL")}


@action(args={})
async def hang(ctx):
    """Awaits a future nobody will ever resolve."""
    await asyncio.get_running_loop().create_future()


@mutation(args={"name": v.string(), "seconds": v.number()})
async def slow_write(ctx, name, seconds):
    """Awaits a while (not its own code's time), then writes: in flight at a SIGTERM."""
    await asyncio.sleep(seconds)
    return await ctx.db.insert("counters", {"name": name, "value": 1})


@internal_action(args={})
async def hang_job(ctx):
    await asyncio.get_running_loop().create_future()


@mutation(args={})
async def schedule_hang(ctx):
    return await ctx.scheduler.run_after(0, hang_job, {})


@query(args={"jobId": v.string()})
async def job(ctx, jobId):
    return await ctx.db.system.get(jobId)
