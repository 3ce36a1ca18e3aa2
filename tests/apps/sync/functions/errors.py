"""Functions that throw application errors with data, for error-delivery tests."""

from reactor import AppError, action, mutation, query, v


@mutation(args={"code": v.string()})
async def fail_mutation(ctx, code):
    raise AppError({"code": code, "where": "mutation"})


@action(args={"code": v.string()})
async def fail_action(ctx, code):
    raise AppError({"code": code, "where": "action"})


@action(args={"text": v.string()})
async def echo(ctx, text):
    return {"echo": text}


@query(args={"name": v.string(), "above": v.number()})
async def fail_above(ctx, name, above):
    """The counter's value, or an AppError once it exceeds `above`."""
    doc = await (ctx.db.query("counters")
                 .with_index("by_name", lambda q: q.eq("name", name)).first())
    value = 0 if doc is None else doc["value"]
    if value > above:
        raise AppError({"code": "TooHigh", "value": value})
    return value


@query(args={"name": v.string()})
async def crash(ctx, name):
    raise RuntimeError(f"internal detail {name}")
