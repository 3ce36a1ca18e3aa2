"""System functions of the Functions, Schedules, Files and Schema pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reactor.runtime.context import MutationCtx, QueryCtx
from reactor.runtime.functions import FunctionDefinition, internal_mutation, internal_query
from reactor.runtime.system import CRON_JOBS, SCHEDULED_FUNCTIONS, STORAGE
from reactor.schema import TableDefinition
from reactor.values import v

# Jobs the Schedules page lists: the newest, whatever their state.
RECENT_JOBS = 200


def functions(app_functions: Callable[[], dict[str, FunctionDefinition]]
              ) -> dict[str, FunctionDefinition]:
    """The overview functions; `app_functions` is read on every run, so after a hot
    reload (which re-runs live queries) the Functions page shows the new code."""

    @internal_query(args={})
    async def functions(ctx: QueryCtx) -> list[dict[str, Any]]:
        """Every app function: kind, visibility and validators (Convex's JSON form)."""
        return [{"path": path, "kind": fn.kind.value, "visibility": fn.visibility.value,
                 "args": fn.args.to_json() if fn.args is not None else None,
                 "returns": fn.returns.to_json() if fn.returns is not None else None}
                for path, fn in sorted(app_functions().items())]

    return {"functions": functions, "schedules": schedules, "cancelJob": cancel_job,
            "files": files, "schema": schema}


@internal_query(args={})
async def schedules(ctx: QueryCtx) -> dict[str, Any]:
    """The newest scheduled jobs (every state) and the cron definitions with next run."""
    jobs = await ctx.db.system.query(SCHEDULED_FUNCTIONS).order("desc").take(RECENT_JOBS)
    crons = await ctx.db.system.query(CRON_JOBS).collect()
    return {"jobs": jobs, "crons": crons}


@internal_mutation(args={"id": v.string()})
async def cancel_job(ctx: MutationCtx, id: str) -> None:
    """Cancel a pending job (one already running is left to finish)."""
    await ctx.scheduler.cancel(id)


@internal_query(args={"paginationOpts": v.any()})
async def files(ctx: QueryCtx, paginationOpts: Any) -> dict[str, Any]:
    """A page of stored files, newest first, each with a download URL."""
    page: dict[str, Any] = await ctx.db.system.query(STORAGE).order("desc").paginate(
        paginationOpts)
    page["page"] = [{**doc, "url": await ctx.storage.get_url(doc["_id"])}
                    for doc in page["page"]]
    return page


@internal_query(args={})
async def schema(ctx: QueryCtx) -> dict[str, Any]:
    """Tables, their validators and indexes. Index backfills finish before a schema is
    applied (the schema change waits for them), so every listed index is ready."""
    catalog = ctx.transaction.catalog
    declared = catalog.schema
    return {"validation": declared.schema_validation if declared is not None else False,
            "tables": [_table(name, catalog.require(name), declared is not None
                              and name in declared.tables)
                       for name in catalog.user_table_names]}


def _table(name: str, table: TableDefinition, declared: bool) -> dict[str, Any]:
    indexes = [{"name": i.name, "kind": "database", "fields": list(i.fields),
                "builtin": i.is_builtin, "state": "ready"} for i in table.indexes.values()]
    indexes += [{"name": i.name, "kind": "search", "fields": [i.search_field],
                 "filterFields": list(i.filter_fields), "builtin": False, "state": "ready"}
                for i in table.search_indexes.values()]
    indexes += [{"name": i.name, "kind": "vector", "fields": [i.vector_field],
                 "dimensions": i.dimensions, "filterFields": list(i.filter_fields),
                 "builtin": False, "state": "ready"} for i in table.vector_indexes.values()]
    return {"name": name, "declared": declared,
            "validator": table.validator.to_json() if table.validator is not None else None,
            "indexes": indexes}
