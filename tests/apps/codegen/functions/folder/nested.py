"""A module in a folder, with a default export: paths "folder/nested:fn" and "folder/nested"."""

from reactor import internal_mutation, query, v


@query(args={"x": v.number()}, returns=v.number())
async def fn(ctx, x):
    return x * 2


@query(args={}, returns=v.string())
async def default(ctx):
    return "default"


@internal_mutation(args={"note": v.string()}, returns=v.null())
async def hidden(ctx, note):
    return None
