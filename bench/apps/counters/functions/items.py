"""Commit throughput: each call inserts one small document."""

from reactor import mutation, v


@mutation(args={"owner": v.string(), "body": v.string(), "n": v.number()})
async def insert(ctx, owner, body, n):
    return await ctx.db.insert("items", {"owner": owner, "body": body, "n": n})
