import os
import time

from reactor import AppError, action, internal_mutation, mutation, query, v


async def _find(ctx, name):
    return await ctx.db.query("counts").with_index("by_name", lambda q: q.eq("name", name)).unique()


@query
async def get(ctx, name: str) -> float:
    found = await _find(ctx, name)
    return 0 if found is None else found["value"]


@mutation
async def add(ctx, name: str, by: float = 1) -> str:
    found = await _find(ctx, name)
    if found is None:
        count_id = await ctx.db.insert("counts", {"name": name, "value": by})
    else:
        count_id = found["_id"]
        await ctx.db.patch(count_id, {"value": found["value"] + by})
    await ctx.db.insert("events", {"countId": count_id, "by": by})
    return count_id


@mutation
async def add_then_fail(ctx, name: str) -> None:
    await add(ctx, name=name, by=100)
    raise AppError("counter refused", data={"name": name})


@query(args={"countId": v.id("counts")})
async def events_of(ctx, countId):
    return [e["by"] for e in await ctx.db.query("events").collect() if e["countId"] == countId]


@internal_mutation
async def add_later(ctx, name: str) -> str:
    return await ctx.scheduler.run_after(0, "lib:add", {"name": name, "by": 5})


@query
async def job(ctx, job_id: str):
    doc = await ctx.db.system.get(job_id)
    return None if doc is None else doc["state"]["kind"]


@query
async def job_names(ctx) -> list:
    return [job["name"] for job in await ctx.db.system.query("_scheduled_functions").collect()]


@action
async def add_twice(ctx, name: str) -> float:
    await ctx.run_mutation("lib:add", {"name": name})
    await ctx.run_mutation(add, {"name": name})
    return await ctx.run_query(get, {"name": name})


@query
async def read_app_table(ctx):
    return await ctx.db.query("notes").collect()


@query
async def read_by_id(ctx, doc_id: str):
    return await ctx.db.get(doc_id)


@mutation
async def call_app(ctx):
    return await ctx.run_mutation("notes:write", {"text": "from the component"})


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


@mutation
async def busy_add(ctx, name: str, busy: float) -> dict:
    """Computes for `busy` seconds (past the slice: the call moves to a worker process),
    then adds, by the component's own table and function names."""
    _spin(busy)
    count_id = await add(ctx, name=name)
    job = await ctx.scheduler.run_after(3600, "lib:add", {"name": name})
    return {"pid": os.getpid(), "count": count_id, "job": job}


@action
async def busy_twice(ctx, name: str, busy: float) -> dict:
    _spin(busy)
    await ctx.run_mutation("lib:add", {"name": name})
    value = await ctx.run_query(get, {"name": name})
    job = await ctx.scheduler.run_after(3600, "lib:add", {"name": name})
    return {"pid": os.getpid(), "value": value, "job": job}


@mutation
async def add_and_call_back(ctx, name: str, on_done: str, notes: str) -> int:
    """Adds, then tells the app through the handles it passed (now and in a job)."""
    await add(ctx, name=name)
    await ctx.run_mutation(on_done, {"text": f"counted {name}"})
    await ctx.scheduler.run_after(0, on_done, {"text": f"later {name}"})
    return len(await ctx.run_query(notes, {}))
