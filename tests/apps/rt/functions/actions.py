"""Actions: calling queries and mutations, internal functions, timeouts."""

import asyncio

from reactor import action, internal_mutation, v

from .notes import by_author


@internal_mutation(args={"author": v.string()})
async def add_internal(ctx, author):
    return await ctx.db.insert("notes", {"author": author, "body": "", "rank": 0})


@action(args={"author": v.string()})
async def add_then_read(ctx, author):
    first = await ctx.run_mutation("notes:add", {"author": author, "body": "1", "rank": 1})
    second = await ctx.run_mutation(add_internal, {"author": author})
    secret = await ctx.run_query("notes:secret", {})
    rows = await ctx.run_query(by_author, {"author": author})
    return {"ids": [first, second], "seen": [row["_id"] for row in rows], "secret": secret}


@action(args={"seconds": v.number()})
async def sleepy(ctx, seconds):
    await asyncio.sleep(seconds)
    return "woke"
