"""Queries with known read sets, for the invalidation tests."""

from reactor import mutation, query, v


@mutation(args={"author": v.string(), "rank": v.number(), "body": v.string()})
async def add(ctx, author, rank, body):
    return await ctx.db.insert("notes", {"author": author, "rank": rank, "body": body})


@mutation(args={"notes": v.array(v.object({"author": v.string(), "rank": v.number()}))})
async def add_many(ctx, notes):
    return [await ctx.db.insert("notes", {**note, "body": ""}) for note in notes]


@mutation(args={"id": v.id("notes"), "fields": v.any()})
async def update(ctx, id, fields):
    await ctx.db.patch(id, fields)


@query(args={"author": v.string()})
async def ranks_by_author(ctx, author):
    """Reads the author's range of by_author; the result leaves out `body`."""
    rows = await (ctx.db.query("notes")
                  .with_index("by_author", lambda q: q.eq("author", author)).collect())
    return [row["rank"] for row in rows]


@query(args={})
async def lowest_first(ctx):
    row = await ctx.db.query("notes").with_index("by_rank").first()
    return None if row is None else row["_id"]


@query(args={})
async def lowest_take(ctx):
    rows = await ctx.db.query("notes").with_index("by_rank").take(1)
    return [row["_id"] for row in rows]


@query(args={"id": v.id("notes")})
async def note(ctx, id):
    return await ctx.db.get(id)


@query(args={})
async def whoami(ctx):
    identity = await ctx.auth.get_user_identity()
    return None if identity is None else identity["subject"]
