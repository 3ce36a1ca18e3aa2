"""Text search functions for the search tests."""

from reactor import action, mutation, query, v


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


@mutation(args={"body": v.string(), "board": v.string(), "embedding": v.array(v.number())})
async def add_vector(ctx, body, board, embedding):
    return await ctx.db.insert("notes", {"body": body, "board": board, "embedding": embedding})


@query(args={"vector": v.any(), "boards": v.optional(v.array(v.string())),
             "limit": v.optional(v.number())})
async def nearest(ctx, vector, boards=None, limit=None):
    def only(q):
        expr = q.eq("board", boards[0])
        for board in boards[1:]:
            expr = expr | q.eq("board", board)
        return expr
    return await ctx.vector_search("notes", "by_embedding", vector=vector,
                                   limit=10 if limit is None else limit,
                                   filter=only if boards else None)


@action(args={"vector": v.array(v.number())})
async def nearest_bodies(ctx, vector):
    hits = await ctx.vector_search("notes", "by_embedding", vector=vector, limit=2)
    return [(await ctx.run_query("notes:body_of", {"id": hit["_id"]})) for hit in hits]


@query(args={"id": v.id("notes")})
async def body_of(ctx, id):
    return (await ctx.db.get(id))["body"]


@query(args={"text": v.string(), "vector": v.array(v.number()), "board": v.optional(v.string())})
async def hybrid(ctx, text, vector, board=None):
    hits = await ctx.hybrid_search("notes", text_index="search_body", text=text,
                                   vector_index="by_embedding", vector=vector, limit=5,
                                   eq=None if board is None else {"board": board})
    return [(await ctx.db.get(hit["_id"]))["body"] for hit in hits]
