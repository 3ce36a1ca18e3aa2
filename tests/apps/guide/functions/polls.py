from reactor import components, mutation, query

tally = components.tally.counts


@mutation
async def vote(ctx, option: str) -> float:
    return await ctx.run_mutation(tally.add, {"key": option})


@query
async def results(ctx, options: list[str]) -> dict[str, float]:
    return {option: await ctx.run_query(tally.get, {"key": option}) for option in options}


@mutation
async def vote_later(ctx, option: str) -> str:
    return await ctx.scheduler.run_after(60, tally.add, {"key": option})
