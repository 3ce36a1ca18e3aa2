import logging

from reactor import AppError, mutation, query, v

log = logging.getLogger(__name__)


@mutation(args={"author": v.string(), "body": v.string(), "rank": v.number()})
async def add(ctx, author, body, rank):
    return await ctx.db.insert("notes", {"author": author, "body": body, "rank": rank})


@query(args={"author": v.string()})
async def by_author(ctx, author):
    print("listing", author)
    log.warning("careful")
    return await (ctx.db.query("notes")
                  .with_index("by_author", lambda q: q.eq("author", author))
                  .collect())


@query(args={"author": v.string()})
async def first_rank(ctx, author):
    return await (ctx.db.query("notes")
                  .with_index("by_author_rank", lambda q: q.eq("author", author))
                  .first())


@mutation(args={"id": v.id("notes"), "body": v.string()})
async def edit(ctx, id, body):
    await ctx.db.patch(id, {"body": body})


@mutation(args={"id": v.id("notes")})
async def remove(ctx, id):
    await ctx.db.delete(id)


@query(args={})
async def count(ctx):
    return len(await ctx.db.query("notes").collect())


@mutation(args={"code": v.string()})
async def fail(ctx, code):
    await ctx.db.insert("notes", {"author": "x", "body": "never", "rank": 0})
    raise AppError({"code": code})


@query(args={"paginationOpts": v.any()})
async def page(ctx, paginationOpts):
    return await ctx.db.query("notes").order("desc").paginate(paginationOpts)
