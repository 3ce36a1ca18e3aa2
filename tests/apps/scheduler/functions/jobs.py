"""Scheduled work for the scheduler tests: counters bumped by jobs, and test hooks."""

import asyncio
from typing import Any

from reactor import AppError, internal_action, internal_mutation, mutation, query, v

# Tests reach into the loaded module to pause functions at chosen points.
hooks: dict[str, Any] = {}


async def _counter(ctx, name):
    return await (ctx.db.query("counters")
                  .with_index("by_name", lambda q: q.eq("name", name)).unique())


async def _add(ctx, name, amount=1):
    row = await _counter(ctx, name)
    if row is None:
        await ctx.db.insert("counters", {"name": name, "value": amount})
        return amount
    await ctx.db.patch(row["_id"], {"value": row["value"] + amount})
    return row["value"] + amount


@internal_mutation(args={"name": v.string()})
async def bump(ctx, name):
    """Add one to the counter `name` and record the run with its time."""
    await ctx.db.insert("runs", {"name": name, "at": ctx.now()})
    return await _add(ctx, name)


@internal_mutation
async def look(ctx):
    """Reads and writes nothing: only the job's own completion is committed."""
    return "looked"


@mutation(args={"delay": v.number()})
async def schedule_look(ctx, delay):
    return await ctx.scheduler.run_after(delay, look, {})


@query(args={"name": v.string()})
async def counter(ctx, name):
    row = await _counter(ctx, name)
    return 0 if row is None else row["value"]


@query(args={"name": v.string()})
async def runs(ctx, name):
    return [row["at"] for row in await ctx.db.query("runs")
            .with_index("by_name", lambda q: q.eq("name", name)).collect()]


@mutation(args={"name": v.string(), "delay": v.number()})
async def schedule_bump(ctx, name, delay):
    return await ctx.scheduler.run_after(delay, bump, {"name": name})


@mutation(args={"name": v.string(), "at": v.number()})
async def schedule_bump_at(ctx, name, at):
    return await ctx.scheduler.run_at(at, "jobs:bump", {"name": name})


@mutation(args={"names": v.array(v.string()), "delays": v.array(v.number())})
async def schedule_many(ctx, names, delays):
    return [await ctx.scheduler.run_after(delay, bump, {"name": name})
            for name, delay in zip(names, delays, strict=True)]


@mutation(args={"jobId": v.string()})
async def cancel(ctx, jobId):
    await ctx.scheduler.cancel(jobId)


@mutation(args={"name": v.string()})
async def schedule_then_cancel(ctx, name):
    job_id = await ctx.scheduler.run_after(0, bump, {"name": name})
    await ctx.scheduler.cancel(job_id)
    return job_id


@mutation(args={"name": v.string()})
async def touch(ctx, name):
    return await _add(ctx, name)


@mutation(args={"name": v.string()})
async def schedule_then_contend(ctx, name):
    """Schedule a job, read a hot counter, pause (first attempt only), then write it."""
    job_id = await ctx.scheduler.run_after(0, bump, {"name": name})
    await _counter(ctx, "hot")
    pause = hooks.pop("pause", None)
    if pause is not None:
        hooks["paused"] = True
        await pause.wait()
    await _add(ctx, "hot")
    return job_id


@mutation(args={"name": v.string()})
async def schedule_and_fail(ctx, name):
    await ctx.scheduler.run_after(0, bump, {"name": name})
    raise AppError({"code": "Nope"})


@internal_mutation(args={})
async def explode(ctx):
    print("about to explode")
    raise AppError({"code": "Exploded"}, "the job exploded")


@mutation(args={})
async def schedule_explode(ctx):
    return await ctx.scheduler.run_after(0, explode, {})


@internal_action(args={"name": v.string()})
async def slow_action(ctx, name):
    """Counts its starts, waits for the test's gate if one is set, then counts its ends."""
    await ctx.run_mutation(bump, {"name": name + ":start"})
    gate = hooks.get("gate")
    if gate is not None:
        hooks["started"].set()
        await gate.wait()
    await ctx.run_mutation(bump, {"name": name + ":end"})


@mutation(args={"name": v.string()})
async def schedule_action(ctx, name):
    return await ctx.scheduler.run_after(0, slow_action, {"name": name})


@query(args={})
async def jobs(ctx):
    """Every scheduled job as (name, state kind), in scheduled-time order."""
    rows = await ctx.db.system.query("_scheduled_functions").with_index("by_state_time").collect()
    rows.sort(key=lambda row: (row["scheduledTime"], row["_creationTime"]))
    return [{"id": row["_id"], "name": row["name"], "args": row["args"],
             "state": row["state"]} for row in rows]


@query(args={"jobId": v.string()})
async def job(ctx, jobId):
    return await ctx.db.system.get(jobId)


@query(args={})
async def crons(ctx):
    return await ctx.db.system.query("_cron_jobs").collect()


@internal_action(args={"seconds": v.number()})
async def nap(ctx, seconds):
    await asyncio.sleep(seconds)


@mutation(args={"path": v.string(), "count": v.number()})
async def schedule_path(ctx, path, count):
    return [await ctx.scheduler.run_after(0, path, {}) for _ in range(int(count))]


@query(args={})
async def all_counters(ctx):
    return {row["name"]: row["value"] for row in await ctx.db.query("counters").collect()}


@query(args={})
async def run_order(ctx):
    return [row["name"] for row in await ctx.db.query("runs").collect()]
