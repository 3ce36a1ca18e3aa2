from reactor import mutation, query, v


@query(args={"name": v.string()})
async def read(ctx, name):
    return await ctx.env.get(name)


@mutation(args={"name": v.string()})
async def read_in_mutation(ctx, name):
    return await ctx.env.get(name)


@query(args={})
async def peek_table(ctx):
    return await ctx.db.system.query("_environment_variables").collect()
