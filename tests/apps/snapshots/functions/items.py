from reactor import query


@query
async def count(ctx):
    return len(await ctx.db.query("items").collect())


@query
async def whoami(ctx):
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity["subject"]
