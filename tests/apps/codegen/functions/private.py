"""Internal functions only: they belong in `internal`, never in `api`."""

from reactor import internal_action, internal_query, v


@internal_query(args={"key": v.string()}, returns=v.array(v.int64()))
async def lookup(ctx, key):
    return []


@internal_action(args={})
async def chore(ctx):
    return None
