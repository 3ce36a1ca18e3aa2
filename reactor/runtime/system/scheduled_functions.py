"""`_scheduled_functions`: one document per scheduled job, written atomically with its mutation."""

from __future__ import annotations

from typing import Any

from reactor.schema import TableDefinition, define_table
from reactor.values import v

SCHEDULED_FUNCTIONS = "_scheduled_functions"

PENDING = "pending"
IN_PROGRESS = "inProgress"
SUCCESS = "success"
FAILED = "failed"
CANCELED = "canceled"

_state = v.union(
    v.object({"kind": v.literal(PENDING)}),
    v.object({"kind": v.literal(IN_PROGRESS)}),
    v.object({"kind": v.literal(SUCCESS)}),
    v.object({"kind": v.literal(FAILED), "error": v.string()}),
    v.object({"kind": v.literal(CANCELED)}),
)


def scheduled_functions_table() -> TableDefinition:
    table = define_table({
        "name": v.string(),
        "args": v.array(v.any()),
        "scheduledTime": v.number(),
        "completedTime": v.optional(v.number()),
        "state": _state,
    }).index("by_state_time", ["state.kind", "scheduledTime"])
    table.name = SCHEDULED_FUNCTIONS
    return table


def new_job(path: str, args: dict[str, Any], scheduled_ms: float) -> dict[str, Any]:
    return {"name": path, "args": [args], "scheduledTime": scheduled_ms,
            "state": {"kind": PENDING}}
