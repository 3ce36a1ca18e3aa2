from reactor import query


@query
async def count(ctx):
    return len(await ctx.db.query("items").collect())
