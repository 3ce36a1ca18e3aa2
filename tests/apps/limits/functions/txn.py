"""Transactions at their limits: scans, reads, writes and user time of a chosen size."""

import asyncio
import time

from reactor import mutation, query, v


@mutation(args={"start": v.number(), "count": v.number()})
async def fill(ctx, start, count):
    """Inserts items numbered start .. start+count-1."""
    for n in range(int(start), int(start + count)):
        await ctx.db.insert("items", {"n": n})
    return count


@query(args={"n": v.number()})
async def scan(ctx, n):
    """Reads the first `n` items in one index range: `n` documents scanned."""
    return len(await ctx.db.query("items").with_index("by_n").take(int(n)))


@query(args={"n": v.number()})
async def ranges(ctx, n):
    """Reads `n` index ranges: one scan for the first item, then n-1 gets of it."""
    first = await ctx.db.query("items").with_index("by_n").first()
    for _ in range(int(n) - 1):
        await ctx.db.get(first["_id"])
    return n


@mutation(args={"table": v.string(), "lengths": v.array(v.number())})
async def put_blobs(ctx, table, lengths):
    """One document `{"data": "x" * length}` per entry of `lengths`."""
    for length in lengths:
        await ctx.db.insert(table, {"data": "x" * int(length)})
    return len(lengths)


@query(args={"table": v.string()})
async def read_all(ctx, table):
    """Reads every document of `table`: the bytes read are the sum of their sizes."""
    return len(await ctx.db.query(table).collect())


@mutation(args={"table": v.string(), "count": v.number()})
async def write_many(ctx, table, count):
    """Inserts `count` empty documents into `table` in one transaction."""
    for _ in range(int(count)):
        await ctx.db.insert(table, {})
    return count


@query(args={"seconds": v.number()})
async def spin(ctx, seconds):
    """Burns CPU for `seconds` in the function's own code."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return seconds


@mutation(args={"seconds": v.number()})
async def slow(ctx, seconds):
    """Waits `seconds` without holding the event loop: a request that stays in flight."""
    await asyncio.sleep(seconds)
    return seconds
