"""Functions that never finish on their own: they must be stopped at their limits."""

import re
import time

from reactor import action, mutation, query, v

# Exponential backtracking: `(a+)+$` against a run of a's that does not end the string.
CATASTROPHIC = re.compile(r"(a+)+$")


def _spin():
    count = 0
    while True:
        count += 1


@query(args={})
async def spin_query(ctx):
    _spin()


@mutation(args={})
async def spin_mutation(ctx):
    await ctx.db.insert("items", {"n": -1})
    _spin()


@action(args={})
async def spin_action(ctx):
    _spin()


@action(args={"seconds": v.number()})
async def busy_action(ctx, seconds):
    """Burns CPU for `seconds` without awaiting, then returns."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return seconds


@query(args={"length": v.number()})
async def regex(ctx, length):
    """Matches `length` a's and a "!": instant for 10, never-ending (2^length) for 60."""
    return CATASTROPHIC.match("a" * int(length) + "!") is not None



@query(args={"in_c": v.boolean()})
async def spin_then_c(ctx, in_c):
    """Spins in Python, or makes one call into C that runs for hours and never checks for
    signals: no timer can interrupt that, only killing the process running it."""
    if in_c:
        return sum(range(10**13))
    _spin()
