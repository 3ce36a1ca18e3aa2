"""Functions whose calls the execution log, metrics and `reactor data` tests observe."""

import logging

from reactor import AppError, mutation, query, v

log = logging.getLogger(__name__)


@mutation(args={"body": v.string(), "rank": v.optional(v.number())})
async def add(ctx, body, rank=None):
    print(f"adding {body}")
    return await ctx.db.insert("notes", {"body": body, "rank": rank or 0})


@mutation(args={"why": v.string()})
async def fail(ctx, why):
    log.warning("about to fail: %s", why)
    raise AppError({"why": why})


@query(args={})
async def count(ctx):
    return len(await ctx.db.query("notes").collect())
