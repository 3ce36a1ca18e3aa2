"""Scheduling many jobs at once: the per-call and per-identity caps."""

from reactor import action, internal_mutation, mutation, v


@internal_mutation(args={})
async def noop(ctx):
    return None


@mutation(args={"count": v.number()})
async def schedule_many(ctx, count):
    ids = []
    for _ in range(int(count)):
        ids.append(await ctx.scheduler.run_after(3600, noop))
    return ids


@mutation(args={"job": v.string()})
async def cancel(ctx, job):
    await ctx.scheduler.cancel(job)


@action(args={"count": v.number()})
async def schedule_many_from_action(ctx, count):
    for _ in range(int(count)):
        await ctx.scheduler.run_after(3600, noop)
