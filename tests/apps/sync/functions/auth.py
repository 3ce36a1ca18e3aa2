"""Sign in through the built-in issuer, and read back who the caller is."""

from reactor import mutation, query, v


@mutation(args={"subject": v.string(), "name": v.string()})
async def login(ctx, subject, name):
    return ctx.auth.issue_token(subject, claims={"name": name, "role": "tester"})


@query(args={})
async def whoami(ctx):
    return await ctx.auth.get_user_identity()


@mutation(args={})
async def whoami_now(ctx):
    """The identity a mutation runs as: the socket's current token, never a shared result."""
    return await ctx.auth.get_user_identity()
