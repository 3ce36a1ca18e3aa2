"""Ranked items in named lists, read page by page: the paginated query of the sync tests."""

from reactor import mutation, query, v


@mutation(args={"name": v.string(), "rank": v.number()})
async def add(ctx, name, rank):
    return await ctx.db.insert("items", {"list": name, "rank": rank})


@query(args={"name": v.string(), "paginationOpts": v.pagination_opts()})
async def page(ctx, name, paginationOpts):
    """The named list's items by rank, one page at a time."""
    return await (ctx.db.query("items")
                  .with_index("by_list_rank", lambda q: q.eq("list", name))
                  .paginate(paginationOpts))
