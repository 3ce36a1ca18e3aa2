"""Operator checks of the data: row counts, orphaned rows, and scheduled jobs.

Internal queries that read whole tables: meant for development data and tests,
not for a large deployment (a query may read at most 32,000 documents).
"""

from __future__ import annotations

from typing import Final

from reactor import QueryCtx, internal_query, v

from ._lib.authz import Doc

TABLES: Final = ("users", "authPasswords", "authSessions", "sessions", "accounts", "verification",
                 "userSettings", "tasks", "taskSessions", "chatMessages",
                 "pullRequestSnapshots", "todos", "memories",
                 "repositoryIndex", "codebaseUnderstanding", "attachments")
# (table, field) pairs that must name an existing row; the deletes cascade along them.
FOREIGN_KEYS: Final = (("authPasswords", "userId"), ("authSessions", "userId"),
                       ("sessions", "userId"), ("accounts", "userId"),
                       ("userSettings", "userId"), ("tasks", "userId"),
                       ("taskSessions", "taskId"), ("chatMessages", "taskId"),
                       ("pullRequestSnapshots", "messageId"), ("todos", "taskId"),
                       ("memories", "taskId"), ("memories", "userId"),
                       ("codebaseUnderstanding", "userId"), ("attachments", "taskId"))


@internal_query(args={})
async def report(ctx: QueryCtx) -> Doc:
    """`{counts: {table: rows}, orphans: [{table, field, id, missing}]}`."""
    rows = {table: await ctx.db.query(table).collect() for table in TABLES}
    live = {row["_id"] for table_rows in rows.values() for row in table_rows}
    orphans = [{"table": table, "field": field, "id": row["_id"], "missing": row[field]}
               for table, field in FOREIGN_KEYS
               for row in rows[table]
               if row[field] not in live]
    return {"counts": {table: len(table_rows) for table, table_rows in rows.items()},
            "orphans": orphans}


@internal_query(args={"jobId": v.string()})
async def job(ctx: QueryCtx, jobId: str) -> Doc | None:
    """A `_scheduled_functions` row, e.g. a task's `cleanupJobId`: when it runs, its state."""
    return await ctx.db.system.get(jobId)
