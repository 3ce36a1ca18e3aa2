"""The HTTP API that `ConvexHttpClient` calls: query, mutation, action, query_ts, query_at_ts."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from reactor.errors import ReactorError
from reactor.runtime import Engine, FunctionKind
from reactor.runtime.auth import AuthenticationError
from reactor.runtime.client import client_scope
from reactor.runtime.scope import qualified_path
from reactor.server import protocol as p
from reactor.server.config import ServerConfig
from reactor.server.identity import Authenticator, Caller
from reactor.server.outgoing import error_data_json, value_json
from reactor.server.quotas import Quotas, RateLimited, caller_key
from reactor.values import from_wire

logger = logging.getLogger("reactor.http")


class BadRequest(ReactorError):
    code = "BadRequest"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _raw_json(parts: list[bytes]) -> Response:
    return Response(b"".join(parts), media_type="application/json")


class HttpApi:
    """Handlers for `/api/*`; they parse, authenticate and hand over to the engine."""

    def __init__(self, engine: Engine, authenticator: Callable[[], Authenticator],
                 config: ServerConfig, quotas: Quotas | None = None) -> None:
        self.engine = engine
        self.authenticator = authenticator
        self.config = config
        self.quotas = quotas or Quotas(0, 0)

    async def _caller(self, request: Request) -> Caller:
        return await self.authenticator().from_header(request.headers.get("authorization"))

    async def _body(self, request: Request) -> dict[str, Any]:
        """The JSON object sent, read only up to the size limit."""
        limit = self.config.max_message_bytes
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.config.body_timeout_s):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        raise BadRequest(f"request body exceeds the limit of {limit} bytes",
                                         code="PayloadTooLarge")
                    chunks.append(chunk)
        except TimeoutError:
            raise BadRequest("the request body did not arrive within"
                             f" {self.config.body_timeout_s:g} s", code="RequestTimeout") from None
        body = b"".join(chunks)
        try:
            parsed = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError as error:
            raise BadRequest(f"request body is not valid JSON: {error}") from None
        if not isinstance(parsed, dict):
            raise BadRequest("request body must be a JSON object")
        return parsed

    async def _run(self, request: Request, kind: FunctionKind | None,
                   at_ts: bool = False, *, any_caller: bool = False) -> Response:
        """Call `path`; `kind=None` runs whatever kind the function is (for an admin
        only, unless `any_caller`: `/api/function`, where public functions are found)."""
        try:
            body = await self._body(request)
            path = body.get("path")
            if not isinstance(path, str):
                raise BadRequest('missing "path": expected "module:function"')
            path = self._component_function(path, body.get("componentPath"))
            fmt = body.get("format", "convex_encoded_json")
            if fmt not in ("convex_encoded_json", "json"):
                raise BadRequest(f'unsupported format {fmt!r}: use "convex_encoded_json"')
            raw_args = body.get("args", [{}])
            if not isinstance(raw_args, list | dict):
                raise BadRequest('"args" must be [ {...} ] or an object')
            args = from_wire(p.unwrap_args(raw_args), "args")
            ts = None
            if at_ts:
                if not isinstance(body.get("ts"), str):
                    raise BadRequest('missing "ts": expected an encoded timestamp')
                ts = p.decode_ts(body["ts"])
            caller = await self._caller(request)
            if kind is None and any_caller:
                kind = self._kind_of(path, caller)
            elif kind is None:
                if not caller.admin:
                    raise AuthenticationError("/api/run needs the admin key")
                kind = self.engine.resolve(path, admin=True).kind
            self._charge(request, kind, caller)
        except RateLimited as limited:
            response = _error(429, limited.code, limited.message)
            response.headers["retry-after"] = str(max(1, math.ceil(limited.retry_after)))
            return response
        except AuthenticationError as error:
            return _error(401, error.code, error.message)
        except ReactorError as error:
            status = {"PayloadTooLarge": 413, "RequestTimeout": 408}.get(error.code, 400)
            return _error(status, error.code, error.public_message)
        with client_scope(request.client.host if request.client else None):
            outcome = await self.engine.call(kind, path, args, caller.identity,
                                             admin=caller.admin, ts=ts)
        lines = orjson.dumps(outcome.log_lines)
        if outcome.ok:
            value = outcome.encoded or value_json(outcome.value)
            return _raw_json([b'{"status":"success","value":', value, b',"logLines":', lines,
                              b"}"])
        failure = outcome.error
        assert failure is not None
        parts = [b'{"status":"error","errorMessage":', orjson.dumps(failure.message),
                 b',"logLines":', lines]
        if failure.is_app_error:
            parts += [b',"errorData":', error_data_json(failure.data)]
        parts.append(b"}")
        return _raw_json(parts)

    def _component_function(self, path: str, component: object) -> str:
        """The registered path of `path` in the installed component `component` (a
        component's functions are found for admin callers only, as in Convex)."""
        if component is None or component == "":
            return path
        if not isinstance(component, str) or component not in self.engine.app.components:
            installed = ", ".join(sorted(self.engine.app.components)) or "none"
            raise BadRequest(f"componentPath {component!r}: no component is installed under"
                             f" that name (installed: {installed})", code="ComponentNotFound")
        return qualified_path(component, path)

    def _charge(self, request: Request, kind: FunctionKind, caller: Caller) -> None:
        """Take a mutation or action from the caller's quota (anonymous: per address)."""
        quota = {FunctionKind.MUTATION: self.quotas.mutations,
                 FunctionKind.ACTION: self.quotas.actions}.get(kind)
        if quota is not None:
            address = request.client.host if request.client is not None else "unknown"
            quota.charge(caller_key(caller.identity, caller.admin, address))

    def _kind_of(self, path: str, caller: Caller) -> FunctionKind:
        """The kind of the function `path` names; a path naming none the caller may run
        is answered by calling it (as a query): the usual "Could not find" failure."""
        try:
            return self.engine.resolve(path, public_only=not caller.admin,
                                       admin=caller.admin).kind
        except ReactorError:
            return FunctionKind.QUERY

    async def function(self, request: Request) -> Response:
        """`POST /api/function` (`ConvexHttpClient.function`): any kind, args unwrapped."""
        return await self._run(request, None, any_caller=True)

    async def query(self, request: Request) -> Response:
        return await self._run(request, FunctionKind.QUERY)

    async def query_at_ts(self, request: Request) -> Response:
        return await self._run(request, FunctionKind.QUERY, at_ts=True)

    async def mutation(self, request: Request) -> Response:
        return await self._run(request, FunctionKind.MUTATION)

    async def action(self, request: Request) -> Response:
        return await self._run(request, FunctionKind.ACTION)

    async def run(self, request: Request) -> Response:
        return await self._run(request, None)

    async def query_ts(self, request: Request) -> Response:
        return JSONResponse({"ts": p.encode_ts(self.engine.latest_ts)})
