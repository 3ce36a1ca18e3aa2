"""The search benchmark's app: notes on boards, a live search per board."""

from reactor import MutationCtx, QueryCtx, mutation, query, v


@mutation(args={"body": v.string(), "board": v.string()})
async def add(ctx: MutationCtx, body: str, board: str) -> str:
    return await ctx.db.insert("notes", {"body": body, "board": board})


@query(args={"text": v.string(), "board": v.string()})
async def search(ctx: QueryCtx, text: str, board: str) -> list[str]:
    rows = await ctx.db.query("notes").with_search_index(
        "search_body", lambda q: q.search("body", text).eq("board", board)).take(10)
    return [row["_id"] for row in rows]
