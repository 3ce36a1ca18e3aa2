"""Actions for the action tests: nesting, logs, errors, limits and outside I/O."""

import asyncio
import logging
import urllib.request

from reactor import action, internal_action, query, v

from .jobs import bump, counter

log = logging.getLogger(__name__)
# How many `busy` actions run at this moment, and the most seen at once.
load = {"now": 0, "peak": 0}


@action(args={"name": v.string()})
async def write_then_read(ctx, name):
    written = await ctx.run_mutation(bump, {"name": name})
    read = await ctx.run_query(counter, {"name": name})
    return {"written": written, "read": read}


@action(args={})
async def chatty(ctx):
    print("action says hi")
    log.info("action logs info")
    return await ctx.run_action("actions:inner", {})


@internal_action(args={})
async def inner(ctx):
    print("inner action says hi")
    return await ctx.run_query("actions:whoami", {})


@query(args={})
async def whoami(ctx):
    print("query says hi")
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity["subject"]


@action(args={})
async def calls_failing_mutation(ctx):
    await ctx.run_mutation("jobs:explode", {})


@action(args={"seconds": v.number()})
async def sleepy(ctx, seconds):
    await asyncio.sleep(seconds)
    return "woke"


@action(args={})
async def busy(ctx):
    load["now"] += 1
    load["peak"] = max(load["peak"], load["now"])
    await asyncio.sleep(0.05)
    load["now"] -= 1


@action(args={"depth": v.number()})
async def nest(ctx, depth):
    if depth == 0:
        return 0
    return 1 + await ctx.run_action("actions:nest", {"depth": depth - 1})


@action(args={"url": v.string()})
async def fetch(ctx, url):
    """Blocking urllib in a worker thread: the event loop keeps serving meanwhile."""
    def get():
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()
    return await asyncio.to_thread(get)


@action(args={"name": v.string()})
async def env_value(ctx, name):
    return await ctx.env.get(name)


@action(args={"name": v.string()})
async def schedule_from_action(ctx, name):
    job_id = await ctx.scheduler.run_after(0, bump, {"name": name})
    later = await ctx.scheduler.run_after(3600, bump, {"name": name})
    await ctx.scheduler.cancel(later)
    return [job_id, later]
