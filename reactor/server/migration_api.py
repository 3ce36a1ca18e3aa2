"""`POST /api/admin/migration`: the batches of `reactor migrate data --url` (admin key).

The body is `{"op": "page" | "write" | "patch", ...}` with values in the wire form;
each request runs one function of runtime/migration_batches.py, so one batch is one
transaction here exactly as when the command opens the deployment itself, and its
`_migration_ids` entries commit with its documents (reruns skip what is in).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.errors import ReactorError
from reactor.runtime import Engine
from reactor.runtime.migration_batches import RowWrite, patch_rows, read_page, write_rows
from reactor.runtime.system import MIGRATION_IDS
from reactor.values import from_wire, to_wire

MAX_BODY_BYTES = 256 * 1024 * 1024


class MigrationRequestError(ReactorError):
    code = "BadRequest"


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...],
           expected: str) -> Any:
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise MigrationRequestError(f"migration {body.get('op')}: {name!r}: expected"
                                    f" {expected}, got {type(value).__name__}")
    return value


def _doc(value: Any, where: str) -> dict[str, Any]:
    decoded = from_wire(value, where)
    if not isinstance(decoded, dict):
        raise MigrationRequestError(f"migration: {where}: expected an object")
    return decoded


class MigrationApi:
    def __init__(self, engine: Engine,
                 refuse: Callable[[Request], Awaitable[Response | None]]) -> None:
        self.engine = engine
        self.refuse = refuse

    async def handle(self, request: Request) -> Response:
        refused = await self.refuse(request)
        if refused is not None:
            return refused
        try:
            body = await self._body(request)
            reply = await self._run(body)
        except ReactorError as error:
            return JSONResponse({"code": error.code, "message": error.public_message},
                                status_code=400)
        return JSONResponse(reply)

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise MigrationRequestError(f"migration: request body exceeds {MAX_BODY_BYTES}"
                                        " bytes; use a smaller --batch")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise MigrationRequestError(f"migration: body is not valid JSON: {error}"
                                        ) from None
        if not isinstance(body, dict):
            raise MigrationRequestError("migration: body must be a JSON object")
        return body

    async def _run(self, body: dict[str, Any]) -> dict[str, Any]:
        database = self.engine.database
        op = body.get("op")
        if op == "page":
            table = _field(body, "table", str, "a table name")
            if table.startswith("_") and table != MIGRATION_IDS:
                raise MigrationRequestError(f"migration page: {table!r}: only app tables and"
                                            f" {MIGRATION_IDS} can be read")
            after = float(_field(body, "after", (int, float), "a number"))
            size = int(_field(body, "size", int, "an integer"))
            docs = await read_page(database, table, after, size)
            return {"documents": to_wire(docs)}
        if op == "write":
            source = _field(body, "source", str, "the model name")
            table = _field(body, "table", str, "a table name")
            deferred = _field(body, "deferred", list, "a list of field names")
            rows = []
            for index, row in enumerate(_field(body, "rows", list, "a list of rows")):
                where = f"rows[{index}]"
                if not isinstance(row, dict) or not isinstance(row.get("key"), str) or not (
                        row.get("existing") is None or isinstance(row.get("existing"), str)):
                    raise MigrationRequestError(f"migration write: {where}: expected"
                                                ' {"key": str, "doc": object, "existing":'
                                                " str | null}")
                rows.append(RowWrite(row["key"], _doc(row.get("doc"), f"{where}.doc"),
                                     row.get("existing")))
            outcome = await write_rows(database, source, table, rows,
                                       [str(name) for name in deferred])
            return {"created": outcome.created, "counts": dict(outcome.counts)}
        if op == "patch":
            patches = []
            for index, item in enumerate(_field(body, "patches", list, "a list")):
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise MigrationRequestError(f"migration patch: patches[{index}]: expected"
                                                " [document id, fields]")
                patches.append((item[0], _doc(item[1], f"patches[{index}][1]")))
            await patch_rows(database, patches)
            return {"patched": len(patches)}
        raise MigrationRequestError(f"migration: 'op': expected page, write or patch, got"
                                    f" {op!r}")
