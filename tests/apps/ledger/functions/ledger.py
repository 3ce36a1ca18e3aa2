"""A bank ledger for the reliability suite: transfers keep the total fixed and count moves."""

from reactor import AppError, mutation, query, v


async def _account(ctx, name):
    account = await (ctx.db.query("accounts")
                     .with_index("by_name", lambda q: q.eq("name", name)).unique())
    if account is None:
        raise AppError({"code": "NoSuchAccount", "name": name})
    return account


@mutation(args={"names": v.array(v.string()), "balance": v.number()})
async def open_accounts(ctx, names, balance):
    for name in names:
        await ctx.db.insert("accounts", {"name": name, "balance": balance, "moves": 0})


@mutation(args={"client": v.string(), "seq": v.number(), "source": v.string(),
                "target": v.string(), "amount": v.number()})
async def transfer(ctx, client, seq, source, target, amount):
    """Deliberately no duplicate check: applying one request twice must show in the audit."""
    paying = await _account(ctx, source)
    receiving = await _account(ctx, target)
    if paying["balance"] < amount:
        raise AppError({"code": "InsufficientFunds", "balance": paying["balance"]})
    await ctx.db.patch(paying["_id"], {"balance": paying["balance"] - amount,
                                       "moves": paying["moves"] + 1})
    await ctx.db.patch(receiving["_id"], {"balance": receiving["balance"] + amount,
                                          "moves": receiving["moves"] + 1})
    await ctx.db.insert("transfers", {"client": client, "seq": seq, "source": source,
                                      "target": target, "amount": amount})
    return seq


@query(args={})
async def summary(ctx):
    accounts = await ctx.db.query("accounts").collect()
    return {"total": sum(a["balance"] for a in accounts),
            "moves": sum(a["moves"] for a in accounts)}


@query(args={"name": v.string()})
async def account(ctx, name):
    found = await _account(ctx, name)
    return {"balance": found["balance"], "moves": found["moves"]}


@query(args={})
async def audit(ctx):
    return {"accounts": await ctx.db.query("accounts").collect(),
            "transfers": await ctx.db.query("transfers").collect()}


@mutation(args={"client": v.string(), "seq": v.number(), "source": v.string(),
                "target": v.string(), "amount": v.number()})
async def transfer_later(ctx, client, seq, source, target, amount):
    """The transfer as a scheduled job: it must run once, whichever node scheduled it."""
    await ctx.scheduler.run_after(0, "ledger:transfer", {
        "client": client, "seq": seq, "source": source, "target": target, "amount": amount})
