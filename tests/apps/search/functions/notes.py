"""Text search functions for the search tests."""

from reactor import mutation, query, v


@mutation(args={"body": v.string(), "board": v.optional(v.string())})
async def add(ctx, body, board=None):
    doc = {"body": body} if board is None else {"body": body, "board": board}
    return await ctx.db.insert("notes", doc)


@mutation(args={"id": v.id("notes"), "fields": v.any()})
async def update(ctx, id, fields):
    await ctx.db.patch(id, fields)


@mutation(args={"id": v.id("notes")})
async def remove(ctx, id):
    await ctx.db.delete(id)


@query(args={"text": v.string(), "board": v.optional(v.string()), "n": v.optional(v.number())})
async def search(ctx, text, board=None, n=None):
    def build(q):
        q = q.search("body", text)
        return q if board is None else q.eq("board", board)
    rows = await ctx.db.query("notes").with_search_index("search_body", build).take(int(n or 10))
    return [row["body"] for row in rows]


@mutation(args={"text": v.string(), "board": v.string(), "body": v.string()})
async def add_unless_found(ctx, text, board, body):
    """Insert only if the search finds nothing: two concurrent calls must not both insert."""
    found = await ctx.db.query("notes").with_search_index(
        "search_body", lambda q: q.search("body", text).eq("board", board)).first()
    if found is not None:
        return None
    return await ctx.db.insert("notes", {"body": body, "board": board})
