from reactor import query


@query(args={})
async def signup_open(ctx):
    return await ctx.env.get("SIGNUP_OPEN") == "yes"
