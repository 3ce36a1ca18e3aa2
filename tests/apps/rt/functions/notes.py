"""Functions exercising the runtime: validation, errors, logs, ctx, limits, retries."""

import asyncio
import logging
import time

from reactor import AppError, internal_query, mutation, query, v

log = logging.getLogger(__name__)


@mutation(args={"author": v.string(), "body": v.string(), "rank": v.number()})
async def add(ctx, author, body, rank):
    return await ctx.db.insert("notes", {"author": author, "body": body, "rank": rank})


@query(args={"author": v.string()})
async def by_author(ctx, author):
    return await (ctx.db.query("notes")
                  .with_index("by_author", lambda q: q.eq("author", author)).collect())


@internal_query(args={})
async def secret(ctx):
    return "internal"


@query(args={}, returns=v.string())
async def wrong_returns(ctx):
    return 42


@query(args={})
async def write_in_query(ctx):
    await ctx.db.insert("notes", {"author": "q", "body": "", "rank": 0})


@query(args={"id": v.id("notes")})
async def patch_in_query(ctx, id):
    await ctx.db.patch(id, {"body": "x"})


@mutation(args={})
async def boom(ctx):
    raise ValueError("boom")


@mutation(args={"code": v.string()})
async def refuse(ctx, code):
    await ctx.db.insert("notes", {"author": "refused", "body": "", "rank": 0})
    raise AppError({"code": code, "retry": False})


@query(args={})
async def chatty(ctx):
    print("hello", "world")
    print("two\nlines")
    log.info("info line")
    log.warning("careful")
    log.error("bad")
    return 1


@query(args={"salt": v.string()})
async def clock(ctx, salt):
    first = ctx.now()
    await asyncio.sleep(0.02)
    await ctx.db.query("notes").first()
    return {"now": [first, ctx.now()], "random": [ctx.random(), ctx.random()]}


@query(args={})
async def scan_all(ctx):
    return len(await ctx.db.query("notes").collect())


@mutation(args={"count": v.number()})
async def write_many(ctx, count):
    for i in range(int(count)):
        await ctx.db.insert("counters", {"value": i})


@mutation(args={"size": v.number()})
async def write_big(ctx, size):
    await ctx.db.insert("blobs", {"data": "x" * int(size)})


@mutation(args={"seconds": v.number()})
async def spin(ctx, seconds):
    deadline = time.thread_time() + seconds
    while time.thread_time() < deadline:
        pass
    await ctx.db.query("notes").first()


@mutation(args={})
async def new_counter(ctx):
    return await ctx.db.insert("counters", {"value": 0})


@mutation(args={"id": v.id("counters")})
async def increment(ctx, id):
    """Read, yield to the other writers, write: concurrent calls conflict."""
    counter = await ctx.db.get(id)
    await asyncio.sleep(0.005)
    await ctx.db.patch(id, {"value": counter["value"] + 1})
    return counter["value"] + 1


@query(args={"id": v.id("counters")})
async def counter(ctx, id):
    return (await ctx.db.get(id))["value"]


@mutation(args={"rank": v.any()})
async def bad_document(ctx, rank):
    await ctx.db.insert("notes", {"author": "a", "body": "b", "rank": rank})


@mutation(args={})
async def undeclared_table(ctx):
    await ctx.db.insert("nowhere", {"a": 1})


@mutation(args={})
async def write_system_table(ctx):
    await ctx.db.insert("_scheduled_functions", {"name": "x"})


@query(args={})
async def read_system_table_directly(ctx):
    return await ctx.db.query("_scheduled_functions").collect()


@query(args={})
async def jobs(ctx):
    return await ctx.db.system.query("_scheduled_functions").collect()


@mutation(args={"fail": v.boolean()})
async def schedule(ctx, fail):
    job = await ctx.scheduler.run_after(60, "notes:add",
                                        {"author": "later", "body": "", "rank": 1})
    if fail:
        raise AppError("changed my mind")
    return job
