from reactor import internal_mutation, mutation, query, v


@query(args={"taskId": v.id("tasks")})
async def get(ctx, taskId):
    return await ctx.db.get(taskId)


@mutation(args={"title": v.string()})
async def create(ctx, title):
    return await ctx.db.insert("tasks", {"title": title, "status": "RUNNING"})


@internal_mutation(args={"taskId": v.id("tasks")})
async def cleanup(ctx, taskId):
    await ctx.db.delete(taskId)


@mutation(args={"taskId": v.id("tasks")})
async def finish(ctx, taskId):
    await ctx.db.patch(taskId, {"status": "COMPLETED"})
    job_id = await ctx.scheduler.run_after(15 * 60, cleanup, {"taskId": taskId})
    await ctx.db.patch(taskId, {"cleanupJobId": job_id})


@query(args={})
async def list(ctx):
    return await ctx.db.query("tasks").collect()
