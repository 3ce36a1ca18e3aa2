"""Functions that apply `ctx.rate_limit` the ways an app would."""

from datetime import timedelta

from reactor import AppError, action, mutation, query, v


@mutation(args={"email": v.string()})
async def sign_in(ctx, email):
    """3 attempts per minute per email, counted only when the mutation commits."""
    await ctx.rate_limit("signIn", key=email, rate=3, period=timedelta(minutes=1))
    await ctx.db.insert("attempts", {"email": email, "ok": True})
    return "ok"


@mutation(args={"email": v.string()})
async def sign_in_then_fail(ctx, email):
    """Takes a token and then fails: the failed mutation takes nothing."""
    await ctx.rate_limit("signIn", key=email, rate=3, period=timedelta(minutes=1))
    raise AppError("wrong password")


@mutation(args={"email": v.string()})
async def status(ctx, email):
    """`raises=False`: the decision as a value."""
    result = await ctx.rate_limit("signIn", key=email, rate=3, period=60, raises=False)
    return {"ok": result.ok, "retryAfter": result.retry_after}


@mutation(args={"name": v.any(), "key": v.any(), "rate": v.any(), "period": v.any(),
                "count": v.any()})
async def custom(ctx, name, key, rate, period, count):
    """Any arguments, for the error messages (period as seconds)."""
    await ctx.rate_limit(name, key=key, rate=rate, period=period, count=count)


@mutation(args={"email": v.string()})
async def reset(ctx, email):
    await ctx.reset_rate_limit("signIn", key=email)


@action(args={"email": v.string(), "password": v.string()})
async def sign_in_action(ctx, email, password):
    """The sign-in an app would write: the attempt counts even when the password is wrong."""
    await ctx.rate_limit("signInAction", key=email, rate=2, period=timedelta(seconds=30))
    if password != "right":
        raise AppError("wrong password")
    await ctx.reset_rate_limit("signInAction", key=email)
    return "signed in"


@query(args={})
async def in_query(ctx):
    await ctx.rate_limit("x", rate=1, period=1)
