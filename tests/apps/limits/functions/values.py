"""Values and documents at their limits: arguments summarised, documents stored as given."""

from reactor import mutation, query, v


def _depth(value):
    if isinstance(value, list):
        return 1 + max((_depth(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(item) for item in value.values()), default=0)
    return 0


def _summary(value):
    """What arrived: type, length and container depth (not the value: it may be large)."""
    size = len(value) if isinstance(value, (str, bytes, list, dict)) else None
    return {"type": type(value).__name__, "size": size, "depth": _depth(value)}


@query(args={"value": v.any()})
async def echo(ctx, value):
    return _summary(value)


@mutation(args={"value": v.any()})
async def echo_mutation(ctx, value):
    return _summary(value)


@mutation
async def store(ctx, doc):
    """Inserts `doc` as it came into the schemaless table `free`."""
    return await ctx.db.insert("free", doc)


@mutation(args={"table": v.string()})
async def create_in(ctx, table):
    """Inserts an empty document into `table` (schemaless tables are made on first insert)."""
    return await ctx.db.insert(table, {})


def _nested(depth):
    return [] if depth <= 1 else [_nested(depth - 1)]


@mutation(args={"shape": v.string(), "size": v.number()})
async def store_built(ctx, shape, size):
    """Inserts a document built here (so only the document limits apply, not the argument
    limits): `depth` levels deep in all, `fields` top-level fields, or `items` array items."""
    n = int(size)
    if shape == "depth":
        doc = {"v": _nested(n - 1)}
    elif shape == "fields":
        doc = {f"f{i}": 0 for i in range(n)}
    else:
        doc = {"v": [0] * n}
    return await ctx.db.insert("free", doc)
