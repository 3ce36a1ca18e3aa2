"""One function per shape of validator, for the codegen tests."""

from reactor import Int64, action, mutation, query, v

shape = v.union(
    v.object({"kind": v.literal("circle"), "radius": v.number()}),
    v.object({"kind": v.literal("square"), "side": v.number()}),
)


@query(args={"s": v.string(), "n": v.number(), "i": v.int64(), "b": v.boolean(),
             "z": v.null(), "raw": v.bytes(), "anything": v.any(),
             "maybe": v.optional(v.string())},
       returns=v.object({"s": v.string(), "i": v.int64(), "raw": v.bytes()}))
async def scalars(ctx, s, n, i, b, z, raw, anything, maybe=None):
    return {"s": s, "i": i, "raw": raw}


@mutation(args={"userId": v.id("users"), "tags": v.array(v.string()),
                "scores": v.record(v.string(), v.number()),
                "seen": v.record(v.id("users"), v.boolean()),
                "shape": shape, "level": v.union(v.literal(1), v.literal(2.5)),
                "big": v.literal(Int64(7)), "flag": v.literal(True), "odd-name": v.string(),
                "nullable": v.union(v.string(), v.null())},
          returns=v.id("users"))
async def compound(ctx, userId, tags, scores, seen, shape, level, big, flag, nullable, **rest):
    return userId


@action(args={})
async def untyped_result(ctx):
    return {"anything": True}


@query
async def no_args(ctx, **args):
    return None
