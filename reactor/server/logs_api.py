"""`GET /api/admin/logs`: the execution log over HTTP (admin key), for `reactor logs --url`.

Query parameters, all optional: `after` (a record id: only newer ones, oldest
first — how a follower pages), `sinceMs` (Unix ms), `function` (a path, or a
module prefix ending in `:`), `status` (`success` / `failed`), `text`, `limit`
(at most 1000, default 100) and `newest=1` (the latest `limit`, newest first).
The answer is `{"records": [...], "lastId": N}`, records in
`ExecutionRecord.to_json()` form and `lastId` the newest id in the log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.errors import ReactorError
from reactor.runtime.execution_log import ExecutionLog
from reactor.server.admin_auth import error_response, refuse_unless_admin
from reactor.server.identity import Authenticator
from reactor.storage.log_store import STATUSES, LogFilter

MAX_LIMIT = 1000


class LogsApi:
    def __init__(self, log: Callable[[], ExecutionLog | None],
                 authenticator: Callable[[], Authenticator]) -> None:
        self.log = log
        self.authenticator = authenticator

    async def list(self, request: Request) -> Response:
        refused = await refuse_unless_admin(self.authenticator, request, "/api/admin/logs")
        if refused is not None:
            return refused
        log = self.log()
        if log is None:
            return JSONResponse({"records": [], "lastId": 0})
        try:
            selection = parse_filter(dict(request.query_params))
        except ReactorError as error:
            return error_response(400, error.code, error.message)
        store = log.store
        records, last_id = await asyncio.to_thread(
            lambda: (store.query(selection), store.last_id()))
        return JSONResponse({"records": [record.to_json() for record in records],
                             "lastId": last_id})


def parse_filter(params: dict[str, str]) -> LogFilter:
    """A `LogFilter` from query parameters; a bad one is a `BadRequest` naming it."""
    def number(name: str, kind: type[int] | type[float], default: float | None) -> float | None:
        text = params.get(name)
        if text is None or text == "":
            return default
        try:
            value = kind(text)
        except ValueError:
            raise ReactorError(f"/api/admin/logs: {name} must be a number, got {text[:40]!r}",
                               code="BadRequest") from None
        if value < 0:
            raise ReactorError(f"/api/admin/logs: {name} must not be negative",
                               code="BadRequest")
        return value

    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise ReactorError(f"/api/admin/logs: status must be one of {', '.join(STATUSES)},"
                           f" got {status[:40]!r}", code="BadRequest")
    limit = number("limit", int, 100)
    return LogFilter(after=int(number("after", int, 0) or 0),
                     since_ms=number("sinceMs", float, None),
                     path=params.get("function") or None, status=status,
                     text=params.get("text") or None,
                     limit=min(MAX_LIMIT, int(limit if limit is not None else 100)),
                     newest_first=params.get("newest") in ("1", "true"))
