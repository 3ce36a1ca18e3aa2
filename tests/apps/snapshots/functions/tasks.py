from reactor import query, v


@query(args={"text": v.string()})
async def search(ctx, text):
    return await (ctx.db.query("tasks")
                  .with_search_index("search_title", lambda q: q.search("title", text))
                  .take(10))


@query(args={"owner": v.id("users")})
async def byOwner(ctx, owner):
    return await (ctx.db.query("tasks")
                  .with_index("by_owner", lambda q: q.eq("owner", owner)).collect())
