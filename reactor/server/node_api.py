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
from reactor.runtime.forwarding import NO_LINK, SECRET_HEADER, decode_batch

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
            items = decode_batch(await request.body())
        except InvalidValueError as error:
            return JSONResponse({"code": error.code, "message": error.message},
                                status_code=400)
        commits: list[asyncio.Future[dict[str, Any]]] = []
        for body, link in items:
            commits.append(asyncio.ensure_future(self._commit(
                body, None if link == NO_LINK else commits[link])))
        results = await asyncio.gather(*commits)
        return Response(orjson.dumps({"results": results}), media_type="application/json")

    async def _commit(self, body: bytes, after: asyncio.Future[dict[str, Any]] | None
                      ) -> dict[str, Any]:
        """Commit one transaction; one that follows another of the request (its client's
        previous mutation) only once that one has committed, and not if it did not."""
        if after is not None and "status" in await after:
            return {"status": 409, "ts": "0", "message": "the mutation the same client"
                    " sent before it was not committed"}
        try:
            ts = await self.engine.database.commit_forwarded(body)
        except ConflictError as conflict:
            return {"status": 409, "message": conflict.message, "ts": str(conflict.ts)}
        except StorageError as error:
            return {"status": 503, "code": error.code, "message": error.public_message}
        except ReactorError as error:
            return {"status": 400, "code": error.code, "message": error.message}
        return {"ts": str(ts)}
