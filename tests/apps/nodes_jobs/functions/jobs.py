"""Scheduled jobs, a cron and a startup function for the several-node tests: each run
records its key and the node that ran it (`REACTOR_TEST_NODE`), so a job run twice,
or on the wrong node, shows."""

import os

from reactor import internal_action, internal_mutation, mutation, query, v


def _node():
    return os.environ.get("REACTOR_TEST_NODE", "?")


@internal_mutation(args={"key": v.string(), "kind": v.string()})
async def record(ctx, key, kind):
    await ctx.db.insert("runs", {"key": key, "kind": kind, "node": _node()})


@internal_action(args={"key": v.string()})
async def act(ctx, key):
    """An action job: it records its run through a mutation."""
    await ctx.run_mutation(record, {"key": key, "kind": "action"})


@mutation(args={"prefix": v.string(), "count": v.number(), "step_s": v.number()})
async def schedule(ctx, prefix, count, step_s):
    """`count` mutation jobs and as many action jobs, job i due i * step_s from now."""
    for i in range(int(count)):
        await ctx.scheduler.run_after(i * step_s, record, {"key": f"{prefix}m{i}",
                                                           "kind": "job"})
        await ctx.scheduler.run_after(i * step_s, act, {"key": f"{prefix}a{i}"})


@internal_mutation(args={})
async def tick(ctx):
    await ctx.db.insert("runs", {"key": "tick", "kind": "cron", "node": _node()})


@internal_mutation(args={})
async def started(ctx):
    await ctx.db.insert("runs", {"key": "startup", "kind": "startup", "node": _node()})


started.on_startup = True


@mutation(args={"key": v.string()})
async def write(ctx, key):
    """A client's write (the deposed-committer test sends these)."""
    await ctx.db.insert("runs", {"key": key, "kind": "client", "node": _node()})
    return key


@query(args={})
async def runs(ctx):
    return [{"key": r["key"], "kind": r["kind"], "node": r["node"]}
            for r in await ctx.db.query("runs").collect()]


@query(args={})
async def jobs(ctx):
    """Each scheduled job's first argument key and state."""
    return [{"key": j["args"][0].get("key"), "name": j["name"], "state": j["state"]["kind"]}
            for j in await ctx.db.system.query("_scheduled_functions").collect()]
