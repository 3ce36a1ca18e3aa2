"""Running crons: keep `_cron_jobs` in step with `crons.py`, turn due crons into scheduled jobs."""

from __future__ import annotations

import logging
from typing import Any

from reactor.runtime.scheduler.clock import Clock
from reactor.runtime.scheduler.cron_schedule import parse_schedule
from reactor.runtime.scheduler.crons import CronJobs
from reactor.runtime.system.cron_jobs import CronJobsTable
from reactor.runtime.system.scheduled_functions import (
    IN_PROGRESS,
    PENDING,
    ScheduledFunctions,
    job_args,
)
from reactor.runtime.system.transact import read, transact
from reactor.transactions import Database, Transaction
from reactor.values import dumps

logger = logging.getLogger("reactor.crons")

# Due crons fired per transaction.
BATCH = 100


class CronRunner:
    """Each due cron becomes one job in `_scheduled_functions`, in the same commit that
    moves the cron to its next time: a cron fires once per due time, crash or not."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self.database = database
        self.clock = clock

    async def sync(self, crons: CronJobs | None) -> str:
        """Make `_cron_jobs` match the declared jobs; an unchanged job keeps its next time."""
        declared = crons.jobs if crons is not None else {}
        now = self.clock.now()

        async def body(txn: Transaction) -> str:
            table = CronJobsTable(txn)
            existing = {doc["name"]: doc for doc in await table.all()}
            added, changed = 0, 0
            for job in declared.values():
                fields: dict[str, Any] = {"schedule": job.schedule.spec,
                                          "functionPath": job.path, "args": [job.args]}
                doc = existing.pop(job.name, None)
                if doc is None:
                    await table.insert({"name": job.name, **fields,
                                        "nextRunTime": job.schedule.next_after(now)})
                    added += 1
                elif dumps([doc[k] for k in fields]) != dumps(list(fields.values())):
                    await table.patch(doc["_id"], {
                        **fields, "nextRunTime": job.schedule.next_after(now)})
                    changed += 1
            for doc in existing.values():
                await table.delete(doc["_id"])
            return (f"{len(declared)} crons ({added} new, {changed} changed,"
                    f" {len(existing)} removed)")

        return await transact(self.database, body)

    async def schedule_due(self) -> float | None:
        """Schedule every due cron to run now; returns when the next cron is due."""
        now = self.clock.now()
        first = await read(self.database, lambda txn: CronJobsTable(txn).first_due())
        if first is None or first["nextRunTime"] > now:
            return None if first is None else first["nextRunTime"]
        await transact(self.database, lambda txn: self._fire(txn, now))
        first = await read(self.database, lambda txn: CronJobsTable(txn).first_due())
        return None if first is None else first["nextRunTime"]

    async def _fire(self, txn: Transaction, now: float) -> None:
        table = CronJobsTable(txn)
        jobs = ScheduledFunctions(txn)
        for cron in await table.due(now, BATCH):
            next_run = parse_schedule(cron["schedule"]).next_after(now)
            last_id = cron.get("lastJobId")
            last = None if last_id is None else await jobs.get(last_id)
            if last is not None and last["state"]["kind"] in (PENDING, IN_PROGRESS):
                logger.warning("cron %r: its previous run is still %s; skipping this run",
                               cron["name"], last["state"]["kind"])
                await table.patch(cron["_id"], {"nextRunTime": next_run})
                continue
            job_id = await jobs.schedule(cron["functionPath"], job_args(cron), now)
            await table.patch(cron["_id"], {"nextRunTime": next_run, "lastRunTime": now,
                                            "lastJobId": job_id})
