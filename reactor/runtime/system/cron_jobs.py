"""`_cron_jobs`: one document per declared cron job, holding when it runs next."""

from __future__ import annotations

from typing import Any

from reactor.schema import TableDefinition, define_table
from reactor.transactions import QueryBuilder, Transaction
from reactor.values import v

CRON_JOBS = "_cron_jobs"


def cron_jobs_table() -> TableDefinition:
    table = define_table({
        "name": v.string(),
        "schedule": v.string(),
        "functionPath": v.string(),
        "args": v.array(v.any()),
        "nextRunTime": v.number(),
        "lastRunTime": v.optional(v.number()),
        "lastJobId": v.optional(v.string()),
    }).index("by_name", ["name"]).index("by_next_run", ["nextRunTime"])
    table.name = CRON_JOBS
    return table


class CronJobsTable:
    """The cron state seen through one transaction."""

    def __init__(self, txn: Transaction) -> None:
        self._txn = txn

    async def all(self) -> list[dict[str, Any]]:
        return await QueryBuilder(self._txn, CRON_JOBS).with_index("by_name").collect()

    async def first_due(self) -> dict[str, Any] | None:
        """The job that runs next."""
        return await QueryBuilder(self._txn, CRON_JOBS).with_index("by_next_run").first()

    async def due(self, now_ms: float, limit: int) -> list[dict[str, Any]]:
        return await (QueryBuilder(self._txn, CRON_JOBS)
                      .with_index("by_next_run", lambda q: q.lte("nextRunTime", now_ms))
                      .take(limit))

    async def insert(self, doc: dict[str, Any]) -> str:
        return await self._txn.insert(CRON_JOBS, doc)

    async def patch(self, doc_id: str, fields: dict[str, Any]) -> None:
        await self._txn.patch(doc_id, fields)

    async def delete(self, doc_id: str) -> None:
        await self._txn.delete(doc_id)
