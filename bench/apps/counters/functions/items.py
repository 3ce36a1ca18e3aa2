"""Commit throughput: each call inserts one small document."""

from reactor import MutationCtx, mutation, v


@mutation(args={"owner": v.string(), "body": v.string(), "n": v.number()})
async def insert(ctx: MutationCtx, owner: str, body: str, n: float) -> str:
    return await ctx.db.insert("items", {"owner": owner, "body": body, "n": n})
