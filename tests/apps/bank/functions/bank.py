"""Transfers between accounts: the serializability workload."""

from reactor import mutation, query, v


@mutation(args={"count": v.number(), "balance": v.number()})
async def open_accounts(ctx, count, balance):
    return [await ctx.db.insert("accounts", {"name": f"acct{i}", "balance": balance})
            for i in range(int(count))]


@mutation(args={"source": v.id("accounts"), "dest": v.id("accounts"), "amount": v.number()})
async def transfer(ctx, source, dest, amount):
    """Move `amount` unless the source cannot cover it; returns the new balances."""
    a = await ctx.db.get(source)
    b = await ctx.db.get(dest)
    if a["balance"] < amount:
        return {"ok": False, "balance": a["balance"]}
    await ctx.db.patch(source, {"balance": a["balance"] - amount})
    await ctx.db.patch(dest, {"balance": b["balance"] + amount})
    return {"ok": True, "source": a["balance"] - amount, "dest": b["balance"] + amount}


@query(args={})
async def total(ctx):
    rows = await ctx.db.query("accounts").collect()
    return {"total": sum(row["balance"] for row in rows), "count": len(rows)}


@query(args={})
async def balances(ctx):
    return {row["_id"]: row["balance"] for row in await ctx.db.query("accounts").collect()}
