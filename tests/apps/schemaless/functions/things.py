"""An app without schema.py: tables appear on first insert."""

from reactor import mutation, query


@mutation
async def put(ctx, table, doc):
    return await ctx.db.insert(table, doc)


@query
async def list_all(ctx, table):
    return await ctx.db.query(table).collect()
