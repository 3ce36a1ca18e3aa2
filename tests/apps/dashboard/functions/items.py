"""The dashboard tests' app: a table of items, a logging mutation, a job to cancel."""

from __future__ import annotations

import logging

from reactor import internal_mutation, mutation, query, v

log = logging.getLogger(__name__)


@mutation(args={"count": v.number(), "start": v.optional(v.number())})
async def fill(ctx, count, start=0):
    for i in range(int(count)):
        n = int(start) + i
        await ctx.db.insert("items", {"title": f"item {n}", "n": n,
                                      "tag": "even" if n % 2 == 0 else "odd"})
    return count


@query(args={"n": v.number()})
async def by_n(ctx, n):
    return await ctx.db.query("items").with_index("by_n", lambda q: q.eq("n", n)).first()


@mutation(args={"title": v.string()}, returns=v.string())
async def greet(ctx, title):
    print(f"greeting {title}")
    return f"hello {title}"


@internal_mutation(args={"title": v.string()})
async def secret(ctx, title):
    log.warning("secret mutation ran for %s", title)
    return await ctx.db.insert("items", {"title": title, "n": -1})


@mutation(args={"title": v.string(), "delay": v.number()})
async def later(ctx, title, delay):
    return await ctx.scheduler.run_after(delay, "items:secret", {"title": title})


@query(args={})
async def whoami(ctx):
    return await ctx.auth.get_user_identity()
