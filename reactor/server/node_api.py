"""The committing node's side of forwarded transactions (runtime/forwarding.py): only
nodes that share the store's secret may call it."""

from __future__ import annotations

import hmac
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.errors import ConflictError, ReactorError, StorageError
from reactor.runtime import Engine
from reactor.runtime.forwarding import SECRET_HEADER

logger = logging.getLogger("reactor.nodes")


class NodeApi:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def commit(self, request: Request) -> Response:
        secret = self.engine.node_secret
        given = request.headers.get(SECRET_HEADER, "")
        if not secret or not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"code": "Forbidden", "message": "not a node of this store"},
                                status_code=403)
        try:
            ts = await self.engine.database.commit_forwarded(await request.body())
        except ConflictError as conflict:
            return JSONResponse({"message": conflict.message, "ts": str(conflict.ts)},
                                status_code=409)
        except StorageError as error:
            return JSONResponse({"code": error.code, "message": error.public_message},
                                status_code=503)
        except ReactorError as error:
            return JSONResponse({"code": error.code, "message": error.message},
                                status_code=400)
        return JSONResponse({"ts": str(ts)})
