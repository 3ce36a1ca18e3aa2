"""One client's pipelined mutations: each result depends on the ones sent before it."""

import asyncio

from reactor import AppError, mutation, v


async def _row(ctx, key):
    return await ctx.db.query("counters").with_index("by_key", lambda q: q.eq("key", key)).first()


@mutation(args={"key": v.string(), "amount": v.number(), "delay": v.number()})
async def add(ctx, key, amount, delay):
    row = await _row(ctx, key)
    await asyncio.sleep(delay)
    if row is None:
        await ctx.db.insert("counters", {"key": key, "value": amount})
        return amount
    await ctx.db.patch(row["_id"], {"value": row["value"] + amount})
    return row["value"] + amount


@mutation(args={"key": v.string(), "amount": v.number(), "delay": v.number()})
async def take(ctx, key, amount, delay):
    """Fails (writing nothing) when the counter cannot cover `amount`."""
    row = await _row(ctx, key)
    await asyncio.sleep(delay)
    value = 0 if row is None else row["value"]
    if value < amount:
        raise AppError({"short": value})
    await ctx.db.patch(row["_id"], {"value": value - amount})
    return value - amount


@mutation(args={"key": v.string(), "delay": v.number()})
async def peek(ctx, key, delay):
    """Writes nothing: its result must still reflect every mutation sent before it."""
    row = await _row(ctx, key)
    await asyncio.sleep(delay)
    return None if row is None else row["value"]


@mutation(args={"text": v.string(), "delay": v.number()})
async def note(ctx, text, delay):
    """Reads nothing: never conflicts, but must still commit after its predecessors."""
    await asyncio.sleep(delay)
    await ctx.db.insert("notes", {"text": text})
    return text
