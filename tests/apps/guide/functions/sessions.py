from reactor import internal_mutation


@internal_mutation(args={})
async def purge_expired(ctx):
    now = ctx.now()
    for session in await ctx.db.query("sessions").collect():
        if session["expiresAt"] < now:
            await ctx.db.delete(session["_id"])
