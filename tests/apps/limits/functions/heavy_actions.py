"""Actions that compute for a while between awaits: after one such call they run in a
worker process, and everything `ctx` offers must work the same there."""

import os
import time

from reactor import AppError, FunctionError, action, mutation, v


def _burn(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@action(args={"name": v.string(), "busy": v.number()})
async def tally(ctx, name, busy):
    """Burns `busy` s of CPU, then uses the server: calls, scheduler, env, auth, tokens."""
    _burn(busy)
    print(f"tallying {name}")
    value = await ctx.run_mutation("counter:incr", {"name": name})
    seen = await ctx.run_query("counter:get", {"name": name})
    job = await ctx.scheduler.run_after(3600, "counter:incr", {"name": name + "-later"})
    identity = await ctx.auth.get_user_identity()
    token = ctx.auth.issue_token("someone")
    verified = await ctx.auth.verify_token(token)
    return {"pid": os.getpid(), "value": value, "seen": seen, "job": job,
            "env": await ctx.env.get("GREETING"), "subject": identity and identity["subject"],
            "verified": verified["subject"], "now": ctx.now()}


@mutation(args={})
async def refuse(ctx):
    raise AppError({"code": "Refused", "n": 3}, "no thanks")


@action(args={"busy": v.number()})
async def relay_refusal(ctx, busy):
    """The app error of a mutation it calls, caught and then raised as its own."""
    _burn(busy)
    try:
        await ctx.run_mutation(refuse, {})
    except FunctionError as error:
        raise AppError({"relayed": error.data}, "relayed") from None


@action(args={"busy": v.number(), "spin": v.boolean(), "in_c": v.boolean()})
async def then_spin(ctx, busy, spin, in_c):
    """Burns `busy` s; then, if asked, spins in Python or in C (which ignores signals)."""
    _burn(busy)
    if in_c:
        return sum(range(10**13))
    while spin:
        pass
    return os.getpid()
