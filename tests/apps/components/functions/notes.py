from reactor import AppError, action, components, create_function_handle, mutation, query

counter = components.counter.lib


@mutation
async def write(ctx, text: str) -> str:
    return await ctx.db.insert("notes", {"text": text})


@mutation
async def write_and_count(ctx, text: str) -> str:
    await ctx.db.insert("notes", {"text": text})
    return await ctx.run_mutation(counter.add, {"name": "notes"})


@mutation
async def write_and_fail(ctx, text: str) -> str:
    await ctx.db.insert("notes", {"text": text})
    await ctx.run_mutation(counter.add, {"name": "kept", "by": 1})
    try:
        await ctx.run_mutation(counter.add_then_fail, {"name": "kept"})
    except AppError as error:
        return error.data["name"]
    return "not raised"


@query
async def overview(ctx, name: str) -> dict:
    notes = await ctx.db.query("notes").collect()
    first = await ctx.run_query(counter.get, {"name": name})
    second = await ctx.run_query(components.second.lib.get, {"name": name})
    return {"notes": len(notes), "counter": first, "second": second}


@action
async def count_twice(ctx, name: str) -> float:
    return await ctx.run_action(counter.add_twice, {"name": name})


@mutation
async def count_later(ctx, name: str) -> str:
    return await ctx.scheduler.run_after(0, components.second.lib.add, {"name": name, "by": 2})


@query
async def app_jobs(ctx) -> list:
    return [job["name"] for job in await ctx.db.system.query("_scheduled_functions").collect()]


@query
async def read_component_table(ctx):
    return await ctx.db.query("counter/counts").collect()


@query
async def read_by_id(ctx, doc_id: str):
    return await ctx.db.get(doc_id)


@mutation
async def delete_by_id(ctx, doc_id: str) -> None:
    await ctx.db.delete(doc_id)


@query
async def missing_function(ctx):
    return await ctx.run_query(components.counter.lib.nothing, {})


@mutation
async def apply(ctx, ops: list, abort: bool = False) -> int:
    """Each op `[installation, name, by, fail]` adds `by` through that installation, or
    calls its failing mutation (rolled back alone); `abort` then fails the whole call."""
    failed = 0
    for installation, name, by, fail in ops:
        lib = getattr(components, installation).lib
        try:
            if fail:
                await ctx.run_mutation(lib.add_then_fail, {"name": name})
            else:
                await ctx.run_mutation(lib.add, {"name": name, "by": by})
        except AppError:
            failed += 1
    if abort:
        raise AppError("aborted", data={"failed": failed})
    return failed


@query
async def texts(ctx) -> list:
    return sorted(note["text"] for note in await ctx.db.query("notes").collect())


@mutation
async def count_with_callback(ctx, name: str) -> int:
    return await ctx.run_mutation(counter.add_and_call_back, {
        "name": name, "on_done": create_function_handle(write),
        "notes": create_function_handle(texts)})


@query
async def read_table(ctx, table: str):
    return await ctx.db.query(table).collect()


@action
async def vector_search_in(ctx, table: str):
    return await ctx.vector_search(table, "by_vector", vector=[1.0, 0.0])
