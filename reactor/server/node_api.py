"""The committing node's side of forwarded transactions (runtime/forwarding.py): only
nodes that share the store's secret may call it."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.errors import ConflictError, InvalidValueError, ReactorError, StorageError
from reactor.runtime import Engine
from reactor.runtime.forwarding import SECRET_HEADER, decode_batch

logger = logging.getLogger("reactor.nodes")


class NodeApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def commit(self, request: Request) -> Response:
        """Commit a request's forwarded transactions, queued together so that they share
        a group-commit batch; one result per transaction, in order."""
        secret = self.engine.node_secret
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"code": "Forbidden", "message": "not a node of this store"},
                                status_code=403)
        try:
            bodies = decode_batch(await request.body())
        except InvalidValueError as error:
            return JSONResponse({"code": error.code, "message": error.message},
                                status_code=400)
        results = await asyncio.gather(*(self._commit(body) for body in bodies))
        return Response(orjson.dumps({"results": results}), media_type="application/json")

    async def _commit(self, body: bytes) -> dict[str, Any]:
        try:
            ts = await self.engine.database.commit_forwarded(body)
        except ConflictError as conflict:
            return {"status": 409, "message": conflict.message, "ts": str(conflict.ts)}
        except StorageError as error:
            return {"status": 503, "code": error.code, "message": error.public_message}
        except ReactorError as error:
            return {"status": 400, "code": error.code, "message": error.message}
        return {"ts": str(ts)}
